/* GET /v1/cases/{case}/report (report.c): the evidence report, JSON or a
 * printable HTML page (?format=html or Accept: text/html, ?lang=en|fr|ar or
 * Accept-Language). */
#ifndef SITR_API_REPORT_H
#define SITR_API_REPORT_H

#include "net/req.h"

int sitr_api_cases_report(sitr_req_t *req);

#endif
