/* emsync — registers the elements that need neither BLAS (plugin_gen.cpp) nor FluidSynth
 * (plugin_fluid.cpp): scene cuts and MIDI files. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/gstemsyncelements.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;
#ifdef EMSYNC_HAVE_SCENECUT
  ret |= GST_ELEMENT_REGISTER (emsyncscenecut, plugin);
#endif
#ifdef EMSYNC_HAVE_MIDIENC
  ret |= GST_ELEMENT_REGISTER (emsyncmidienc, plugin);
#endif
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsync,
    "Scene cuts and MIDI files for video soundtracks",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
