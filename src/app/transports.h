/* transports: the table of every transport built into sluice, handed to
 * core's registry (core/transport.h) before anything is built. */
#ifndef SLUICE_APP_TRANSPORTS_H
#define SLUICE_APP_TRANSPORTS_H

void app_transports_register(void);

#endif
