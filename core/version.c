/* The library's version, for comparing with the headers' (cgrad/version.h is
 * generated from the project() version). */
#include "cgrad/version.h"

const char *cg_version(void) { return CGRAD_VERSION_STRING; }
