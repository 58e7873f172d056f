/* Memory that may have held a secret is wiped before it is freed.
 *
 * jansson keeps its own copies of every string it parses, packs or dumps:
 * the answer that creates a case holds the case's secret, a platform's
 * request its content ids.  sitr_secmem_json_init makes jansson wipe every
 * block it frees.  Call it once, before any JSON is made (the main() of
 * sitrd and of the sitr command);
 * process-wide, thread-safe afterwards. */
#ifndef SITR_SECMEM_H
#define SITR_SECMEM_H

void sitr_secmem_json_init(void);

#endif
