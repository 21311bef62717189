// libFuzzer harness: the Standard MIDI File reader (lib/midi/smf.h) on arbitrary bytes, then the notes and the
// tokens made from what it read. Its contract: MidiError or a file, never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emsync::midi;
  SmfFile file;
  try {
    file = parse_smf(data, size, "fuzz.mid");
  } catch (const MidiError&) {
    return 0;
  }
  const auto notes = notes_from_smf(file);
  for (size_t i = 1; i < file.events.size(); ++i)
    if (file.events[i].tick < file.events[i - 1].tick) __builtin_trap();  // documented order: by tick
  try {
    encode(notes);
  } catch (const std::out_of_range&) {
    // documented: a note later than kMaxEncodeSeconds
  }
  return 0;
}
