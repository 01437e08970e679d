/* config_priv: what config_yaml.c (the file) takes from config.c (the
 * configuration's lists and settings).  Not for other modules: they use
 * config.h.
 */
#ifndef SLUICE_CONFIG_PRIV_H
#define SLUICE_CONFIG_PRIV_H

#include "core/config.h"

/* A new chain or group named name, or the one of that name emptied. */
chain_def_t *config_chain_put(config_t *c, const char *name, const char *where);
group_def_t *config_group_put(config_t *c, const char *name, const char *where);
/* Every rule gone (a later layer's rules: replace, not add to). */
void config_rules_clear(config_t *c);

#endif
