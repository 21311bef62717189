/* emsync — registers the generator elements (plugin "emsyncgen": the transformer runs natively, with the system
 * BLAS for its prefills; no libtorch). A separate plugin library, so that the other elements load without BLAS. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/gen/elements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER (emsyncmidigen, plugin);
  ret |= GST_ELEMENT_REGISTER (emsyncbin, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsyncgen, "Music generation for video soundtracks",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
