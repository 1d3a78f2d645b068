#include "server/util/status_macros.h"
