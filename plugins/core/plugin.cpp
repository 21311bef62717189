/* emsync — registers the elements that need neither BLAS (plugin emsyncgen) nor FluidSynth (plugin
 * emsyncfluid): scene cuts, MIDI files, loudness and ducking. */
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
  ret |= GST_ELEMENT_REGISTER (emsyncloudness, plugin);
  ret |= GST_ELEMENT_REGISTER (emsyncducker, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsync,
    "Scene cuts, MIDI files, loudness and ducking for video soundtracks", plugin_init, VERSION, "LGPL",
    GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
