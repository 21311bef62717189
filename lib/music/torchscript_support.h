// Optional TorchScript side of the generator: with it, GeneratorModel::load also loads the file's TorchScript
// module (libtorch) so that sessions can run StepBackend::TorchScript, the exported methods, for comparison.
// Tools and tests link it (emsync_music_torch); the elements do not, so they never load libtorch.
#pragma once

namespace emsync::music {

// Models loaded after this call carry their TorchScript module. Idempotent.
void enable_torchscript();

}  // namespace emsync::music
