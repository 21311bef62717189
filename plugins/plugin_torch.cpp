/* emsync — registers the elements that need libtorch. A separate plugin library, so that the other
 * elements load without libtorch's large dependency tree. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/gstemsynctorchelements.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER (emsyncmidigen, plugin);
  ret |= GST_ELEMENT_REGISTER (emsyncbin, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsynctorch,
    "Music generation for video soundtracks (libtorch)",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
