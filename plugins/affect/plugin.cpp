/* emsync — registers emsyncemotion in its own plugin library (emsyncaffect), which does not link libtorch: the
 * face-expression network runs in plain C++ and a TorchScript fusion model (`model-file`) is run by a module
 * that the element opens only when that property is set (lib/emotion/fusion_module.h). Loading the element
 * therefore costs milliseconds instead of libtorch's ~0.4 s. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/affect/elements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (emsyncemotion, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, emsyncaffect,
    "Valence and arousal of a video over time (no libtorch unless a fusion model is set)", plugin_init,
    VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
