#include "plugins/gen/model_paths.h"

#include <glib.h>

std::string
emsync_default_model_path (const char *name)
{
  const char *dirs[] = { g_getenv ("EMSYNC_MODEL_DIR"), EMSYNC_MODEL_INSTALL_DIR, EMSYNC_SOURCE_MODELS_DIR };
  for (const char *dir : dirs) {
    if (!dir || !*dir)
      continue;
    gchar *path = g_build_filename (dir, name, NULL);
    bool found = g_file_test (path, G_FILE_TEST_IS_REGULAR);
    std::string result = found ? path : "";
    g_free (path);
    if (found)
      return result;
  }
  return "";
}
