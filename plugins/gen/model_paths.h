/* emsync — where the elements look for shipped model files when no file is given. */
#pragma once

#include <string>

/* Full path of the first existing `name` in: $EMSYNC_MODEL_DIR, the installed model directory
 * (EMSYNC_MODEL_INSTALL_DIR), the source tree's models/ (for uninstalled builds). Empty if none exists. */
std::string emsync_default_model_path (const char *name);
