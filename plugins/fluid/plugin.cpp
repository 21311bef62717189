/* emsync — registers the FluidSynth element. A plugin library of its own, so that loading the scene-cut
 * element does not load FluidSynth and the audio libraries Debian's build of it pulls in (about 60
 * shared objects; tens of milliseconds at every start of a scene-cut pipeline, bench/scenecut/results.md). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/fluid/elements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (emsyncsynth, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsyncfluid,
    "MIDI synthesis for video soundtracks (FluidSynth)", plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
