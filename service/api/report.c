/* GET /v1/cases/{case}/report: the evidence report a victim gives to the
 * police (DESIGN.md "API"; in Morocco through the "Iblagh" platform).
 *
 * One call to sitr_case_report() reads everything in one snapshot: the
 * case, a summary, every takedown request (platform, the platform's upload
 * id and URL, matches with signal and distance, status history with the
 * platform's notes) and the uploads blocked by /v1/match per platform and
 * UTC day.  The service adds, per takedown, the opaque case token the
 * platform sees in GET /v1/takedowns, so the platform can find its own
 * records.  The answer is JSON (default, or Accept: application/json) or a
 * self-contained printable HTML page (Accept: text/html or ?format=html) in
 * English, French or Arabic (?lang=en|fr|ar, else Accept-Language).
 *
 * Invariants: the case was authenticated by auth.c (a withdrawn case is
 * answered 404 case_not_found here too, as it may have been withdrawn after
 * authentication); no hash of any kind is read, so none can leak; every
 * value in the page is escaped by html.c, URLs and notes from platforms
 * are hostile and shown as text (the page has no link, no script, and is
 * sent with a Content-Security-Policy that allows only its inline style).
 * Loop thread; the database call holds a reference on the request. */
#include "api/report.h"
#include "api/reply.h"
#include "api/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/opaque.h>

#include "api/platform.h"
#include "db/db.h"
#include "api/html.h"
#include "core/log.h"
#include "net/server.h"

/* Takedowns and blocked groups listed (the summary counts all). */
#define REPORT_MAX_ROWS "1000"
/* Largest page we build: 1000 takedowns with hostile 1000-character notes
 * and 2048-byte URLs, escaped, stay well below it. */
#define REPORT_HTML_MAX ((size_t)48 << 20)

#define REPORT_CSP "default-src 'none'; style-src 'unsafe-inline'"

typedef enum { LANG_EN, LANG_FR, LANG_AR, LANG_COUNT } lang_t;

typedef struct report_op {
    sitr_req_t *req;
    char case_id[24];
    int64_t case_num;
    int html;
    lang_t lang;
} report_op_t;

/* ---- the page's words ------------------------------------------------------ */

/* One label in the three languages.  "{n}" in a label is replaced by a
 * number (see put_num).  A struct rather than an array, so that long
 * literals split over lines are not mistaken for missing commas. */
typedef struct words {
    const char *en, *fr, *ar;
} words_t;

static const char *in_lang(const words_t *w, lang_t l)
{
    return l == LANG_FR ? w->fr : l == LANG_AR ? w->ar : w->en;
}

static const words_t W_TITLE = {"sitr evidence report", "Rapport de preuves sitr",
                                "تقرير أدلة سِتر"};
static const words_t W_INTRO = {
    "sitr finds and takes down intimate images published without consent, using only digital "
    "fingerprints (hashes) of the images. This report can be given to the police (in Morocco, "
    "through the national “Iblagh” reporting platform).",
    "sitr repère et fait retirer les images intimes publiées sans consentement, à partir des "
    "seules empreintes numériques (hachages) des images. Ce rapport peut être remis à la police "
    "(au Maroc, via la plateforme nationale de signalement «\u00a0Iblagh\u00a0»).",
    "يكشف «سِتر» الصور الحميمة المنشورة دون موافقة أصحابها ويطلب إزالتها، بالاعتماد فقط على البصمات "
    "الرقمية (التجزئات) للصور. ويمكن تقديم هذا التقرير إلى الشرطة (في المغرب، عبر المنصّة الوطنية "
    "للتبليغ «إبلاغ»)."};
static const words_t W_CASE = {"Case", "Dossier", "الملف"};
static const words_t W_REFERENCE = {"Case reference", "Référence du dossier", "مرجع الملف"};
static const words_t W_CREATED = {"Case opened", "Dossier ouvert le", "تاريخ فتح الملف"};
static const words_t W_IMAGES = {"Images registered (fingerprints only)",
                                 "Images enregistrées (empreintes seulement)",
                                 "الصور المسجّلة (البصمات فقط)"};
static const words_t W_GENERATED = {"Report generated", "Rapport généré le", "تاريخ إنشاء التقرير"};
static const words_t W_UTC = {"All times are in UTC (Coordinated Universal Time).",
                              "Toutes les heures sont en UTC (temps universel coordonné).",
                              "جميع الأوقات بالتوقيت العالمي المنسّق (UTC)."};

static const words_t W_SUMMARY = {"Summary", "Résumé", "ملخّص"};
static const words_t W_S_PLATFORMS = {"Platforms involved", "Plateformes concernées",
                                      "المنصّات المعنيّة"};
static const words_t W_S_FOUND = {"Uploads found on platforms",
                                  "Publications trouvées sur les plateformes",
                                  "المنشورات التي عُثر عليها في المنصّات"};
static const words_t W_S_MATCHES = {"Matches (upload × image of the case)",
                                    "Correspondances (publication × image du dossier)",
                                    "التطابقات (منشور × صورة من الملف)"};
static const words_t W_S_REMOVED = {"Removed by the platform", "Retirées par la plateforme",
                                    "أزالتها المنصّة"};
static const words_t W_S_REJECTED = {"Refused by the platform", "Refusées par la plateforme",
                                     "رفضت المنصّة إزالتها"};
static const words_t W_S_NOT_FOUND = {"No longer found by the platform",
                                      "Introuvables pour la plateforme", "لم تعد المنصّة تجدها"};
static const words_t W_S_PENDING = {"Awaiting the platform's answer",
                                    "En attente de la réponse de la plateforme",
                                    "في انتظار ردّ المنصّة"};
static const words_t W_S_CANCELLED = {"Cancelled", "Annulées", "أُلغيت"};
static const words_t W_S_BLOCKED = {"Uploads blocked before publication",
                                    "Publications bloquées avant leur mise en ligne",
                                    "منشورات حُجبت قبل نشرها"};

static const words_t W_FOUND = {"Uploads found and takedown requests",
                                "Publications trouvées et demandes de retrait",
                                "المنشورات التي عُثر عليها وطلبات الإزالة"};
static const words_t W_NONE_FOUND = {
    "No upload matching this case has been found on the platforms so far.",
    "Aucune publication correspondant à ce dossier n'a été trouvée sur les plateformes à ce jour.",
    "لم يُعثر حتى الآن على أي منشور مطابق لهذا الملف في المنصّات."};
static const words_t W_F_PLATFORM = {"Platform", "Plateforme", "المنصّة"};
static const words_t W_F_UPLOAD_ID = {"Upload identifier at the platform",
                                      "Identifiant de la publication chez la plateforme",
                                      "معرّف المنشور لدى المنصّة"};
static const words_t W_F_URL = {"Address (URL) given by the platform",
                                "Adresse (URL) fournie par la plateforme",
                                "العنوان (URL) كما قدّمته المنصّة"};
static const words_t W_F_REPORTED = {"Reported to sitr by the platform",
                                     "Signalée à sitr par la plateforme le",
                                     "تاريخ إبلاغ المنصّة سِتر بالمنشور"};
static const words_t W_F_DELETED = {"Declared deleted by the platform",
                                    "Déclarée supprimée par la plateforme le",
                                    "تاريخ تصريح المنصّة بحذفه"};
static const words_t W_F_FOUND_AT = {"Found (first match)", "Trouvée (première correspondance) le",
                                     "تاريخ العثور عليه (أول تطابق)"};
static const words_t W_F_MATCH = {"Match", "Correspondance", "التطابق"};
static const words_t W_F_MATCHED = {"Images of the case matched", "Images du dossier concernées",
                                    "صور الملف المطابقة"};
static const words_t W_F_REQUEST = {"Takedown request number (sitr)",
                                    "Numéro de la demande de retrait (sitr)",
                                    "رقم طلب الإزالة (سِتر)"};
static const words_t W_F_TOKEN = {"Case token known to this platform",
                                  "Jeton du dossier connu de cette plateforme",
                                  "رمز الملف المعروف لدى هذه المنصّة"};
static const words_t W_F_REQUESTED = {"Takedown requested", "Retrait demandé le",
                                      "تاريخ طلب الإزالة"};
static const words_t W_F_STATUS = {"Current status", "Statut actuel", "الحالة الحالية"};
static const words_t W_HISTORY = {"Status history", "Historique du statut", "سجلّ الحالة"};
static const words_t W_H_TIME = {"Time (UTC)", "Heure (UTC)", "الوقت (UTC)"};
static const words_t W_H_STATUS = {"Status", "Statut", "الحالة"};
static const words_t W_H_NOTE = {"Platform's note (as the platform wrote it)",
                                 "Note de la plateforme (telle qu'elle l'a écrite)",
                                 "ملاحظة المنصّة (كما كتبتها)"};

static const words_t W_MATCH_PDQ = {"perceptual similarity (PDQ), distance {n} of 256 bits",
                                    "similarité perceptuelle (PDQ), distance {n} sur 256 bits",
                                    "تشابه بصري (PDQ)، المسافة {n} من 256 بتًّا"};
static const words_t W_MATCH_MD5 = {"exact copy of the file (MD5)", "copie exacte du fichier (MD5)",
                                    "نسخة مطابقة تمامًا للملف (MD5)"};
static const words_t W_MATCH_SHA256 = {"exact copy of the file (SHA-256)",
                                       "copie exacte du fichier (SHA-256)",
                                       "نسخة مطابقة تمامًا للملف (SHA-256)"};

static const words_t W_ST_PENDING = {"Takedown requested", "Retrait demandé", "طُلبت الإزالة"};
static const words_t W_ST_REMOVED = {"Removed", "Retirée", "أُزيل"};
static const words_t W_ST_REJECTED = {"Refused", "Refusée", "رُفض الطلب"};
static const words_t W_ST_NOT_FOUND = {"Not found", "Introuvable", "لم يُعثر عليه"};
static const words_t W_ST_CANCELLED = {"Cancelled", "Annulée", "أُلغي"};

static const words_t W_BLOCKED_INTRO = {
    "A platform checked a new upload against sitr before publishing it and was told that it "
    "matches this case. sitr keeps no copy of these uploads, only their number.",
    "Une plateforme a vérifié une nouvelle publication auprès de sitr avant de la mettre en ligne, "
    "et sitr lui a répondu qu'elle correspond à ce dossier. sitr ne garde aucune copie de ces "
    "publications, seulement leur nombre.",
    "تحقّقت منصّةٌ لدى سِتر من منشور جديد قبل نشره، فأُبلغت بأنه يطابق هذا الملف. ولا يحتفظ سِتر بأي "
    "نسخة من هذه المنشورات، بل بعددها فقط."};
static const words_t W_NONE_BLOCKED = {"No upload has been blocked so far.",
                                       "Aucune publication n'a été bloquée à ce jour.",
                                       "لم يُحجب أي منشور حتى الآن."};
static const words_t W_B_DATE = {"Date (UTC)", "Date (UTC)", "التاريخ (UTC)"};
static const words_t W_B_COUNT = {"Uploads blocked", "Publications bloquées", "المنشورات المحجوبة"};
static const words_t W_B_FIRST = {"First", "Première", "الأول"};
static const words_t W_B_LAST = {"Last", "Dernière", "الأخير"};

static const words_t W_TRUNCATED = {
    "This report lists only the first {n} entries of each list; the summary counts all of them.",
    "Ce rapport ne liste que les {n} premières entrées de chaque liste ; le résumé les compte "
    "toutes.",
    "لا يذكر هذا التقرير سوى أول {n} عنصر من كل قائمة، أمّا الملخّص فيحصيها جميعًا."};

static const words_t W_POLICE = {"For the police: how to read and verify this report",
                                 "Pour la police\u00a0: comment lire et vérifier ce rapport",
                                 "للشرطة: كيفية قراءة هذا التقرير والتحقّق منه"};
static const words_t W_P1 = {
    "The images are not in this report, and they were never uploaded: the victim's own device "
    "computed a digital fingerprint (a “hash”) of each image, and only these fingerprints were "
    "sent to sitr. An image cannot be rebuilt from its fingerprints. The fingerprints themselves "
    "are not printed here either.",
    "Les images ne figurent pas dans ce rapport et n'ont jamais été envoyées\u00a0: l'appareil de "
    "la victime a calculé lui-même une empreinte numérique (un «\u00a0hachage\u00a0») de chaque "
    "image, et seules ces empreintes ont été transmises à sitr. Une image ne peut pas être "
    "reconstituée à partir de ses empreintes. Les empreintes elles-mêmes ne sont pas non plus "
    "reproduites ici.",
    "لا يتضمّن هذا التقرير الصور، ولم تُرفع الصور قطّ: فقد حسب جهاز الضحية نفسه بصمةً رقمية (تُسمّى "
    "«تجزئة» أو hash) لكل صورة، ولم يُرسَل إلى سِتر سوى هذه البصمات. ولا يمكن إعادة تكوين الصورة "
    "انطلاقًا من بصماتها. كما أن البصمات نفسها غير مذكورة في هذا التقرير."};
static const words_t W_P2 = {
    "PDQ is a perceptual fingerprint of 256 bits, the format used by Meta, StopNCII and "
    "ThreatExchange. Two pictures that look alike have fingerprints that differ in few bits; the "
    "distance is the number of differing bits (0 means visually identical). sitr reports a match "
    "only at a distance of {n} or less. MD5 and SHA-256 fingerprints match only an exact copy of "
    "the same file.",
    "PDQ est une empreinte perceptuelle de 256 bits, le format utilisé par Meta, StopNCII et "
    "ThreatExchange. Deux images qui se ressemblent ont des empreintes qui ne diffèrent que par "
    "peu de bits\u00a0; la distance est le nombre de bits différents (0 signifie visuellement "
    "identiques). sitr ne signale une correspondance qu'à une distance de {n} au plus. Les "
    "empreintes MD5 et SHA-256 ne correspondent qu'à une copie exacte du même fichier.",
    "PDQ بصمة إدراكية من 256 بتًّا، وهي الصيغة التي تستعملها Meta وStopNCII وThreatExchange. "
    "والصورتان المتشابهتان بصريًا تختلف بصمتاهما في عدد قليل من البتّات؛ والمسافة هي عدد البتّات "
    "المختلفة (0 يعني أنهما متطابقتان بصريًا). ولا يعدّ سِتر الصورتين متطابقتين إلا إذا كانت المسافة "
    "{n} أو أقل. أما بصمتا MD5 وSHA-256 فلا تتطابقان إلا مع نسخة مطابقة تمامًا للملف نفسه."};
static const words_t W_P3 = {
    "Platforms check uploads against these fingerprints. When one of their uploads matches, sitr "
    "sends the platform a takedown request that names the platform's own upload identifier, never "
    "the victim's images or fingerprints. The platform reviews each request and answers: removed, "
    "refused, or not found.",
    "Les plateformes comparent les publications à ces empreintes. Lorsqu'une de leurs publications "
    "correspond, sitr envoie à la plateforme une demande de retrait qui indique son propre "
    "identifiant de publication, jamais les images ni les empreintes de la victime. La plateforme "
    "examine chaque demande et répond\u00a0: retirée, refusée ou introuvable.",
    "تقارن المنصّات المنشورات بهذه البصمات. وعندما يطابقها أحد منشوراتها، يرسل سِتر إلى المنصّة طلب "
    "إزالة يذكر معرّف المنشور الخاص بها، ولا يتضمّن أبدًا صور الضحية ولا بصماتها. وتدرس المنصّة كل طلب "
    "وتجيب: أُزيل، أو رُفض الطلب، أو لم يُعثر عليه."};
static const words_t W_P4 = {
    "To verify an entry, contact the platform it names and give it the upload identifier, the "
    "address (URL), the takedown request number and the case token shown here: the platform's own "
    "records hold the upload, when it was reported and what was done with it. The operator of this "
    "sitr service can confirm the case and its records from the case reference.",
    "Pour vérifier une entrée, contactez la plateforme qu'elle nomme et communiquez-lui "
    "l'identifiant de la publication, l'adresse (URL), le numéro de la demande de retrait et le "
    "jeton du dossier indiqués ici\u00a0: les registres de la plateforme contiennent la "
    "publication, la date de son signalement et la suite qui lui a été donnée. L'opérateur de ce "
    "service sitr peut confirmer le dossier et ses enregistrements à partir de la référence du "
    "dossier.",
    "للتحقّق من أي عنصر، اتصلوا بالمنصّة المذكورة فيه وقدّموا لها معرّف المنشور والعنوان (URL) ورقم "
    "طلب الإزالة ورمز الملف الواردة هنا: فسجلّات المنصّة تتضمّن المنشور وتاريخ الإبلاغ عنه والإجراء "
    "المتّخذ بشأنه. ويمكن للجهة المشغّلة لخدمة سِتر هذه تأكيد الملف وسجلّاته انطلاقًا من مرجع الملف."};
static const words_t W_P5 = {
    "Addresses (URLs) and notes are reproduced exactly as the platforms gave them; sitr has not "
    "verified them. The addresses are printed as text, not as links: they may lead to the victim's "
    "images.",
    "Les adresses (URL) et les notes sont reproduites telles que les plateformes les ont "
    "fournies\u00a0; sitr ne les a pas vérifiées. Les adresses sont imprimées comme du texte et "
    "non comme des liens\u00a0: elles peuvent mener aux images de la victime.",
    "تُنقل العناوين (URL) والملاحظات تمامًا كما قدّمتها المنصّات، ولم يتحقّق منها سِتر. وتُطبع العناوين "
    "نصًّا لا روابط، لأنها قد تؤدي إلى صور الضحية."};
static const words_t W_FOOTER = {"This report contains no image and no image fingerprint.",
                                 "Ce rapport ne contient aucune image ni aucune empreinte d'image.",
                                 "لا يتضمّن هذا التقرير أي صورة ولا أي بصمة صورة."};

static const char *const LANG_CODE[LANG_COUNT] = {"en", "fr", "ar"};

static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"Noto Naskh "
    "Arabic\",Tahoma,Arial,sans-serif;margin:2rem auto;max-width:54rem;padding:0 "
    "1rem;color:#111;background:#fff;line-height:1.45}h1{font-size:1.6rem;margin:0 0 "
    ".4rem}h2{font-size:1.2rem;border-bottom:2px solid #333;padding-bottom:.2rem;margin:2rem 0 "
    ".6rem}h3{font-size:1.05rem;margin:0 0 .5rem}h4{font-size:.95rem;margin:.6rem 0 "
    ".3rem}table{border-collapse:collapse;width:100%;margin:.3rem 0 .8rem}th,td{border:1px solid "
    "#999;padding:.3rem .5rem;text-align:start;vertical-align:top}table.kv "
    "th{width:40%;background:#f2f2f2;font-weight:600}thead "
    "th{background:#e6e6e6}.v{font-family:ui-monospace,\"DejaVu Sans "
    "Mono\",Menlo,Consolas,monospace;overflow-wrap:anywhere;word-break:break-all}.code{color:#555;"
    "font-size:.85em}.note{white-space:pre-wrap;overflow-wrap:anywhere}article{border:1px solid "
    "#bbb;padding:.8rem 1rem;margin:1rem 0}.warn{border:2px solid #333;padding:.5rem "
    ".8rem}footer{margin-top:2rem;font-size:.85rem;color:#444;border-top:1px solid "
    "#999;padding-top:.5rem}@page{size:A4;margin:15mm}@media "
    "print{body{margin:0;max-width:none;font-size:10pt}h2,h3,h4{break-after:avoid;page-break-after:"
    "avoid}article,tr{break-inside:avoid;page-break-inside:avoid}thead{display:table-header-group}"
    "th{background:none}}";

/* ---- request parsing ------------------------------------------------------- */

/* Walks a comma-separated header of entries like "text/html;q=0.8" or
 * "fr-MA;q=0.9": at each call returns 1 with the entry's token (before any
 * parameter, trimmed) in *tok and *tlen, and its weight in *q (1000 = q=1; a
 * malformed q counts as 0), or 0 at the end. */
static int next_entry(const char **cursor, const char **tok, size_t *tlen, int *q)
{
    const char *p = *cursor;
    while (p && (*p == ',' || *p == ' ' || *p == '\t'))
        p++;
    if (!p || !*p)
        return 0;
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    *cursor = p + n;
    size_t t = strcspn(p, ";, \t");
    *tok = p;
    *tlen = t < n ? t : n;
    *q = 1000;
    for (size_t i = *tlen; i + 1 < n; i++) {
        if ((p[i] == 'q' || p[i] == 'Q') && p[i + 1] == '=' && i > 0 &&
            (p[i - 1] == ';' || p[i - 1] == ' ' || p[i - 1] == '\t')) {
            char buf[8] = {0};
            size_t k = 0;
            for (size_t j = i + 2; j < n && k < sizeof buf - 1; j++) {
                if (p[j] != '.' && (p[j] < '0' || p[j] > '9'))
                    break;
                buf[k++] = p[j];
            }
            double d = k ? strtod(buf, NULL) : 0;
            *q = d >= 0 && d <= 1 ? (int)(d * 1000 + 0.5) : 0;
            break;
        }
    }
    return 1;
}

static int is_token(const char *tok, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(tok, want, n) == 0;
}

/* How specifically a media range names type/subtype: 3 exactly, 2 type/star,
 * 1 star/star, 0 not at all. */
static int specificity(const char *tok, size_t n, const char *type, const char *subtype_any)
{
    if (is_token(tok, n, type))
        return 3;
    if (is_token(tok, n, subtype_any))
        return 2;
    return is_token(tok, n, "*/*") ? 1 : 0;
}

/* HTML only when Accept weighs it above JSON (each type takes the weight
 * of its most specific range, RFC 9110 12.5.1); no Accept, or a tie, is
 * JSON. */
static int accept_prefers_html(const char *accept)
{
    int html_q = 0, html_s = 0, json_q = 0, json_s = 0;
    const char *cur = accept, *tok;
    size_t n;
    int q;
    while (next_entry(&cur, &tok, &n, &q)) {
        int s = specificity(tok, n, "text/html", "text/*");
        if (s > html_s || (s && s == html_s && q > html_q)) {
            html_s = s;
            html_q = q;
        }
        s = specificity(tok, n, "application/json", "application/*");
        if (s > json_s || (s && s == json_s && q > json_q)) {
            json_s = s;
            json_q = q;
        }
    }
    return html_q > 0 && html_q > json_q;
}

static int lang_of(const char *s, size_t n, lang_t *out)
{
    for (int i = 0; i < LANG_COUNT; i++)
        if (n == 2 && strncasecmp(s, LANG_CODE[i], 2) == 0) {
            *out = (lang_t)i;
            return 1;
        }
    return 0;
}

/* The supported language Accept-Language weighs most (the first one on a
 * tie); English by default. */
static lang_t accept_language(const char *header)
{
    lang_t best = LANG_EN, l;
    int best_q = 0;
    const char *cur = header, *tok;
    size_t n;
    int q;
    while (next_entry(&cur, &tok, &n, &q)) {
        size_t primary = 0;
        while (primary < n && tok[primary] != '-' && tok[primary] != '_')
            primary++;
        if (q > best_q && lang_of(tok, primary, &l)) {
            best = l;
            best_q = q;
        }
    }
    return best;
}

/* ---- JSON ---------------------------------------------------------------------- */

static void copy_fields(json_t *dst, const json_t *src, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(src, names[i]);
        json_object_set(dst, names[i], v ? v : json_null());
    }
}

/* The report as sent: fixed member order, the platform's case token added
 * to each takedown, internal members dropped.  NULL on allocation failure. */
static json_t *shape_report(const report_op_t *op, const json_t *db)
{
    static const char *const top[] = {"created_at", "generated_at", "images", "summary", NULL};
    static const char *const td_head[] = {"id", "platform", NULL};
    static const char *const td_tail[] = {"upload",     "signal",  "distance", "found_at",
                                          "matches",    "status",  "note",     "requested_at",
                                          "updated_at", "history", NULL};
    const sitr_config_t *cfg = sitr_req_server(op->req)->cfg;
    json_t *out = json_object();
    json_t *tds = json_array();
    if (!out || !tds) {
        json_decref(out);
        json_decref(tds);
        return NULL;
    }
    json_object_set_new(out, "case", json_incref(json_object_get(db, "reference")));
    copy_fields(out, db, top);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(db, "takedowns"), i, t)
    {
        json_t *o = json_object();
        if (!o)
            break;
        copy_fields(o, t, td_head);
        char token[SITR_OPAQUE_TOKEN_LEN + 1];
        sitr_opaque_case_token(cfg->digest_key,
                                 json_integer_value(json_object_get(t, "platform_id")),
                                 op->case_num, token);
        json_object_set_new(o, "platform_case", json_string(token));
        copy_fields(o, t, td_tail);
        json_array_append_new(tds, o);
    }
    json_object_set_new(out, "takedowns", tds);
    json_t *blocked = json_object_get(db, "uploads_blocked");
    json_object_set(out, "uploads_blocked", blocked ? blocked : json_array());
    json_t *tr = json_object_get(db, "truncated");
    json_object_set_new(out, "truncated", json_boolean(json_is_true(tr)));
    json_object_set_new(out, "match_threshold", json_integer(cfg->match_threshold));
    if (json_array_size(tds) != json_array_size(json_object_get(db, "takedowns"))) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- HTML ---------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void put(sitr_html_t *h, lang_t l, const words_t *w)
{
    sitr_html_raw(h, in_lang(w, l));
}

/* A label with "{n}" replaced by n. */
static void put_num(sitr_html_t *h, lang_t l, const words_t *w, long long n)
{
    const char *s = in_lang(w, l);
    const char *at = strstr(s, "{n}");
    if (!at) {
        sitr_html_raw(h, s);
        return;
    }
    sitr_html_rawf(h, "%.*s%lld%s", (int)(at - s), s, n, at + 3);
}

/* A value that reads left to right in any page (identifiers, URLs,
 * times), or a dash when absent. */
static void put_ltr(sitr_html_t *h, const char *value)
{
    if (!value || !*value) {
        sitr_html_raw(h, "—");
        return;
    }
    sitr_html_raw(h, "<span dir=\"ltr\" class=\"v\">");
    sitr_html_text(h, value);
    sitr_html_raw(h, "</span>");
}

static void row_open(sitr_html_t *h, lang_t l, const words_t *label)
{
    sitr_html_raw(h, "<tr><th>");
    put(h, l, label);
    sitr_html_raw(h, "</th><td>");
}

static void row_ltr(sitr_html_t *h, lang_t l, const words_t *label, const char *value)
{
    row_open(h, l, label);
    put_ltr(h, value);
    sitr_html_raw(h, "</td></tr>");
}

static void row_num(sitr_html_t *h, lang_t l, const words_t *label, long long n)
{
    row_open(h, l, label);
    sitr_html_rawf(h, "%lld</td></tr>", n);
}

static const words_t *status_words(const char *status)
{
    if (!status)
        return NULL;
    if (strcmp(status, "pending") == 0)
        return &W_ST_PENDING;
    if (strcmp(status, "removed") == 0)
        return &W_ST_REMOVED;
    if (strcmp(status, "rejected") == 0)
        return &W_ST_REJECTED;
    if (strcmp(status, "not_found") == 0)
        return &W_ST_NOT_FOUND;
    if (strcmp(status, "cancelled") == 0)
        return &W_ST_CANCELLED;
    return NULL;
}

/* The status in words, with its code (as in the JSON and the platforms'
 * API) for cross-checking. */
static void put_status(sitr_html_t *h, lang_t l, const char *status)
{
    const words_t *w = status_words(status);
    if (w)
        sitr_html_raw(h, in_lang(w, l));
    sitr_html_raw(h, " <span dir=\"ltr\" class=\"code\">(");
    sitr_html_text(h, status);
    sitr_html_raw(h, ")</span>");
}

static void put_match(sitr_html_t *h, lang_t l, const char *signal, long long distance)
{
    if (signal && strcmp(signal, "pdq") == 0)
        put_num(h, l, &W_MATCH_PDQ, distance);
    else if (signal && strcmp(signal, "md5") == 0)
        put(h, l, &W_MATCH_MD5);
    else if (signal && strcmp(signal, "sha256") == 0)
        put(h, l, &W_MATCH_SHA256);
    else
        sitr_html_text(h, signal);
}

static void render_takedown(sitr_html_t *h, lang_t l, size_t index, const json_t *t)
{
    const json_t *up = json_object_get(t, "upload");
    sitr_html_rawf(h, "<article><h3>%zu. ", index);
    sitr_html_text(h, jstr(t, "platform"));
    sitr_html_raw(h, " — ");
    put_status(h, l, jstr(t, "status"));
    sitr_html_raw(h, "</h3><table class=\"kv\">");
    row_open(h, l, &W_F_PLATFORM);
    sitr_html_text(h, jstr(t, "platform"));
    sitr_html_raw(h, "</td></tr>");
    row_ltr(h, l, &W_F_UPLOAD_ID, jstr(up, "id"));
    row_ltr(h, l, &W_F_URL, jstr(up, "url"));
    row_ltr(h, l, &W_F_REPORTED, jstr(up, "reported_at"));
    row_ltr(h, l, &W_F_FOUND_AT, jstr(t, "found_at"));
    row_open(h, l, &W_F_MATCH);
    put_match(h, l, jstr(t, "signal"), jint(t, "distance"));
    sitr_html_raw(h, "</td></tr>");
    row_num(h, l, &W_F_MATCHED, (long long)json_array_size(json_object_get(t, "matches")));
    row_ltr(h, l, &W_F_REQUEST, jstr(t, "id"));
    row_ltr(h, l, &W_F_REQUESTED, jstr(t, "requested_at"));
    row_ltr(h, l, &W_F_TOKEN, jstr(t, "platform_case"));
    row_open(h, l, &W_F_STATUS);
    put_status(h, l, jstr(t, "status"));
    sitr_html_raw(h, "</td></tr>");
    row_ltr(h, l, &W_F_DELETED, jstr(up, "removed_at"));
    sitr_html_raw(h, "</table><h4>");
    put(h, l, &W_HISTORY);
    sitr_html_raw(h, "</h4><table><thead><tr><th>");
    put(h, l, &W_H_TIME);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_H_STATUS);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_H_NOTE);
    sitr_html_raw(h, "</th></tr></thead><tbody>");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t, "history"), i, e)
    {
        sitr_html_raw(h, "<tr><td>");
        put_ltr(h, jstr(e, "at"));
        sitr_html_raw(h, "</td><td>");
        put_status(h, l, jstr(e, "status"));
        sitr_html_raw(h, "</td><td>");
        const char *note = jstr(e, "note");
        if (note && *note) {
            sitr_html_raw(h, "<bdi class=\"note\">");
            sitr_html_text(h, note);
            sitr_html_raw(h, "</bdi>");
        } else {
            sitr_html_raw(h, "—");
        }
        sitr_html_raw(h, "</td></tr>");
    }
    sitr_html_raw(h, "</tbody></table></article>");
}

static void render_blocked(sitr_html_t *h, lang_t l, const json_t *list)
{
    sitr_html_raw(h, "<p>");
    put(h, l, &W_BLOCKED_INTRO);
    sitr_html_raw(h, "</p>");
    if (json_array_size(list) == 0) {
        sitr_html_raw(h, "<p>");
        put(h, l, &W_NONE_BLOCKED);
        sitr_html_raw(h, "</p>");
        return;
    }
    sitr_html_raw(h, "<table><thead><tr><th>");
    put(h, l, &W_B_DATE);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_F_PLATFORM);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_B_COUNT);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_B_FIRST);
    sitr_html_raw(h, "</th><th>");
    put(h, l, &W_B_LAST);
    sitr_html_raw(h, "</th></tr></thead><tbody>");
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        sitr_html_raw(h, "<tr><td>");
        put_ltr(h, jstr(b, "date"));
        sitr_html_raw(h, "</td><td>");
        sitr_html_text(h, jstr(b, "platform"));
        sitr_html_rawf(h, "</td><td>%lld</td><td>", jint(b, "count"));
        put_ltr(h, jstr(b, "first_at"));
        sitr_html_raw(h, "</td><td>");
        put_ltr(h, jstr(b, "last_at"));
        sitr_html_raw(h, "</td></tr>");
    }
    sitr_html_raw(h, "</tbody></table>");
}

/* The printable page for report r (the shaped JSON).  NULL when it would
 * exceed REPORT_HTML_MAX or memory ran out. */
static char *render_html(const json_t *r, lang_t l, size_t *len)
{
    sitr_html_t h;
    sitr_html_init(&h, REPORT_HTML_MAX);
    const json_t *sum = json_object_get(r, "summary");
    const json_t *td = json_object_get(sum, "takedowns");

    sitr_html_rawf(&h,
                   "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\"><head><meta charset=\"utf-8\">",
                   LANG_CODE[l], l == LANG_AR ? "rtl" : "ltr");
    sitr_html_raw(&h, "<meta name=\"viewport\" content=\"width=device-width, "
                      "initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>");
    put(&h, l, &W_TITLE);
    sitr_html_raw(&h, " — ");
    sitr_html_text(&h, jstr(r, "case"));
    sitr_html_raw(&h, "</title><style>");
    sitr_html_raw(&h, STYLE);
    sitr_html_raw(&h, "</style></head><body><header><h1>");
    put(&h, l, &W_TITLE);
    sitr_html_raw(&h, "</h1><p>");
    put(&h, l, &W_INTRO);
    sitr_html_raw(&h, "</p></header>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, &W_CASE);
    sitr_html_raw(&h, "</h2><table class=\"kv\">");
    row_ltr(&h, l, &W_REFERENCE, jstr(r, "case"));
    row_ltr(&h, l, &W_CREATED, jstr(r, "created_at"));
    row_num(&h, l, &W_IMAGES, jint(r, "images"));
    row_ltr(&h, l, &W_GENERATED, jstr(r, "generated_at"));
    sitr_html_raw(&h, "</table><p>");
    put(&h, l, &W_UTC);
    sitr_html_raw(&h, "</p></section>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, &W_SUMMARY);
    sitr_html_raw(&h, "</h2><table class=\"kv\">");
    row_num(&h, l, &W_S_PLATFORMS, jint(sum, "platforms"));
    row_num(&h, l, &W_S_FOUND, jint(sum, "uploads_found"));
    row_num(&h, l, &W_S_MATCHES, jint(sum, "matches"));
    row_num(&h, l, &W_S_REMOVED, jint(td, "removed"));
    row_num(&h, l, &W_S_REJECTED, jint(td, "rejected"));
    row_num(&h, l, &W_S_NOT_FOUND, jint(td, "not_found"));
    row_num(&h, l, &W_S_PENDING, jint(td, "pending"));
    row_num(&h, l, &W_S_CANCELLED, jint(td, "cancelled"));
    row_num(&h, l, &W_S_BLOCKED, jint(sum, "uploads_blocked"));
    sitr_html_raw(&h, "</table>");
    if (json_is_true(json_object_get(r, "truncated"))) {
        sitr_html_raw(&h, "<p class=\"warn\">");
        put_num(&h, l, &W_TRUNCATED, atoll(REPORT_MAX_ROWS));
        sitr_html_raw(&h, "</p>");
    }
    sitr_html_raw(&h, "</section>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, &W_FOUND);
    sitr_html_raw(&h, "</h2>");
    const json_t *list = json_object_get(r, "takedowns");
    if (json_array_size(list) == 0) {
        sitr_html_raw(&h, "<p>");
        put(&h, l, &W_NONE_FOUND);
        sitr_html_raw(&h, "</p>");
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) render_takedown(&h, l, i + 1, t);
    sitr_html_raw(&h, "</section>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, &W_S_BLOCKED);
    sitr_html_raw(&h, "</h2>");
    render_blocked(&h, l, json_object_get(r, "uploads_blocked"));
    sitr_html_raw(&h, "</section>");

    sitr_html_raw(&h, "<section class=\"explain\"><h2>");
    put(&h, l, &W_POLICE);
    sitr_html_raw(&h, "</h2><p>");
    put(&h, l, &W_P1);
    sitr_html_raw(&h, "</p><p>");
    put_num(&h, l, &W_P2, jint(r, "match_threshold"));
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, &W_P3);
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, &W_P4);
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, &W_P5);
    sitr_html_raw(&h, "</p></section><footer>");
    put(&h, l, &W_TITLE);
    sitr_html_raw(&h, " — ");
    put_ltr(&h, jstr(r, "case"));
    sitr_html_raw(&h, " — ");
    put_ltr(&h, jstr(r, "generated_at"));
    sitr_html_raw(&h, "<br>");
    put(&h, l, &W_FOOTER);
    sitr_html_raw(&h, "</footer></body></html>\n");
    return sitr_html_finish(&h, len);
}

/* ---- the handler ------------------------------------------------------------- */

static void op_done(report_op_t *op)
{
    sitr_req_t *req = op->req;
    free(op);
    sitr_req_unref(req);
}

static void on_report(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    report_op_t *op = arg;
    sitr_req_t *req = op->req;
    json_t *db = NULL, *out = NULL;
    if (sitr_req_gone(req))
        goto done;
    if (rc < 0) {
        if (sqlstate && (strcmp(sqlstate, "SIT03") == 0 || strcmp(sqlstate, "SIT04") == 0))
            sitr_api_reply_case_not_found(req);
        else
            sitr_api_reply_db_error(req, rc);
        goto done;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        sitr_api_reply_case_not_found(req);
        goto done;
    }
    json_error_t jerr;
    db = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!json_is_object(db)) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case report is not a JSON object");
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto done;
    }
    /* Withdrawn after authentication: gone for its owner too. */
    const json_t *w = json_object_get(db, "withdrawn_at");
    if (w && !json_is_null(w)) {
        sitr_api_reply_case_not_found(req);
        goto done;
    }
    out = shape_report(op, db);
    if (!out) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto done;
    }
    size_t listed = json_array_size(json_object_get(out, "takedowns"));
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_add_header(req, "Vary", "Accept, Accept-Language");
    if (!op->html) {
        sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case report sent as JSON (%zu takedowns)", listed);
        sitr_req_reply_json(req, 200, out);
        out = NULL;
        goto done;
    }
    size_t len = 0;
    char *page = render_html(out, op->lang, &len);
    if (!page) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case report page too large or out of memory");
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto done;
    }
    sitr_req_add_header(req, "Content-Security-Policy", REPORT_CSP);
    sitr_req_add_header(req, "Content-Language", LANG_CODE[op->lang]);
    sitr_req_add_header(req, "Referrer-Policy", "no-referrer");
    sitr_req_add_header(req, "X-Frame-Options", "DENY");
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case report sent as HTML/%s (%zu takedowns)", LANG_CODE[op->lang],
             listed);
    sitr_req_reply(req, 200, "text/html; charset=utf-8", page, len);
    free(page);
done:
    json_decref(db);
    json_decref(out);
    op_done(op);
}

int sitr_api_cases_report(sitr_req_t *req)
{
    int64_t id = sitr_req_case_id(req);
    if (id <= 0) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "report handler called without an authenticated case");
        sitr_req_reply_error(req, 500, "internal", "internal error", NULL);
        return 0;
    }
    int html;
    const char *format = sitr_req_query(req, "format");
    if (!format)
        html = accept_prefers_html(sitr_req_header(req, "Accept"));
    else if (strcmp(format, "html") == 0)
        html = 1;
    else if (strcmp(format, "json") == 0)
        html = 0;
    else {
        sitr_req_reply_error(req, 422, "invalid_format", "format is json or html", "format");
        return 0;
    }
    lang_t lang;
    const char *l = sitr_req_query(req, "lang");
    if (!l)
        lang = accept_language(sitr_req_header(req, "Accept-Language"));
    else if (!lang_of(l, strlen(l), &lang)) {
        sitr_req_reply_error(req, 422, "invalid_lang", "lang is en, fr or ar", "lang");
        return 0;
    }
    report_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return SITR_ENOMEM;
    op->req = req;
    op->case_num = id;
    op->html = html;
    op->lang = lang;
    snprintf(op->case_id, sizeof op->case_id, "%lld", (long long)id);
    const char *params[2] = {op->case_id, REPORT_MAX_ROWS};
    sitr_req_ref(req);
    int rc = sitr_db_submit(sitr_req_server(req)->db,
                            "SELECT sitr_case_report($1::bigint, $2::int)::text", 2, params,
                            on_report, op);
    if (rc < 0) {
        free(op);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}
