/* emsync — registers the elements that need neither BLAS (plugin emsyncgen) nor FluidSynth (plugin
 * emsyncfluid): scene cuts and MIDI files. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/core/elements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER (emsyncscenecut, plugin);
  ret |= GST_ELEMENT_REGISTER (emsyncmidienc, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsync,
    "Scene cuts and MIDI files for video soundtracks", plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
