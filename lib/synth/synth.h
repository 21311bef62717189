/* emsync — FluidSynth wrapper: renders raw MIDI messages to interleaved stereo audio.
 *
 * Plain C++17, no GStreamer. One Synth renders one stream: create it once the output sample rate is known,
 * load a SoundFont, then alternate apply_midi() and render_*() from one thread. Rendering allocates nothing:
 * it writes straight into the caller's buffer.
 *
 * Default SoundFont discovery (default_soundfont_candidates(), first readable one wins):
 *   $EMSYNC_SOUNDFONT (when set and non-empty),
 *   /usr/share/sounds/sf2/TimGM6mb.sf2          (timgm6mb-soundfont, 6 MB, the CI font)
 *   /usr/share/sounds/sf2/FluidR3_GM.sf2        (fluid-soundfont-gm)
 *   /usr/share/sounds/sf2/default-GM.sf2        (Debian alternatives link)
 *   /usr/share/sounds/sf3/default-GM.sf3        (Debian alternatives link)
 *   /usr/share/sounds/sf3/MuseScore_General.sf3 (musescore-general-soundfont-small)
 *   /usr/share/sounds/sf3/FluidR3Mono_GM.sf3    (fluidr3mono-gm-soundfont)
 *   /usr/share/soundfonts/default.sf2, /usr/share/soundfonts/FluidR3_GM.sf2 (Fedora/Arch layout)
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

typedef struct _fluid_hashtable_t fluid_settings_t;
typedef struct _fluid_synth_t fluid_synth_t;

namespace emsync {
namespace synth {

/* Why a SoundFont could not be used: the element maps NotFound to RESOURCE/NOT_FOUND, the rest to OPEN_READ. */
class SoundFontError : public std::runtime_error {
 public:
  enum class Kind { NotFound, Unreadable, Corrupt };
  SoundFontError(Kind kind, const std::string& path, const std::string& message);
  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }

 private:
  Kind kind_;
  std::string path_;
};

/* Synthesis settings a user can change; all can also be changed while rendering. */
struct Settings {
  double gain = 0.2;   /* FluidSynth's master gain (its own default, and fluiddec's) */
  int polyphony = 256; /* simultaneous voices */
  bool reverb = true;
  bool chorus = true;
};

enum class LogLevel { Panic, Error, Warning, Info, Debug };
using LogHandler = void (*)(LogLevel level, const char* message, void* user_data);

/* Routes FluidSynth's (process-global) log to `handler`; nullptr silences it. */
void set_log_handler(LogHandler handler, void* user_data);

/* The ordered list of default SoundFont locations (see the header comment). */
std::vector<std::string> default_soundfont_candidates();

/* The first candidate that is a readable file, or "" when there is none. */
std::string find_default_soundfont();

/* Throws SoundFontError unless `path` is a readable RIFF 'sfbk' file (SF2, or SF3 with compressed samples) whose
 * INFO, sample and preset sections are all present and inside the file. */
void check_soundfont_file(const std::string& path);

class Synth {
 public:
  static constexpr int kMinSampleRate = 22050;
  static constexpr int kMaxSampleRate = 96000;

  /* Creates a FluidSynth instance at `sample_rate`; throws std::runtime_error on failure. */
  Synth(int sample_rate, const Settings& settings);
  ~Synth();
  Synth(const Synth&) = delete;
  Synth& operator=(const Synth&) = delete;

  /* Checks then loads a SoundFont (replacing any loaded one) and selects its presets; throws SoundFontError. */
  void load_soundfont(const std::string& path);
  const std::string& soundfont() const { return soundfont_path_; }

  int sample_rate() const { return sample_rate_; }

  /* Applies one raw MIDI message (status byte first). Running status is not supported (one message per call, the
   * audio/x-midi-event protocol). Note on/off, CC, program change, pitch bend, channel and key pressure are applied;
   * 0xFF resets the synth; sysex, 0xF9 ticks and other system messages are ignored. Returns false when ignored. */
  bool apply_midi(const uint8_t* data, size_t size);

  /* Renders `frames` frames of interleaved stereo into `out` (2 * frames values). */
  void render_f32(float* out, size_t frames);
  void render_s16(int16_t* out, size_t frames);

  int active_voice_count() const;

  /* Silences everything at once (voices and effects) and sets controllers and programs back to their defaults,
   * like a MIDI system reset with no release; the SoundFont stays loaded. */
  void reset();

  void set_gain(double gain);
  void set_polyphony(int polyphony);
  void set_reverb(bool on);
  void set_chorus(bool on);
  void apply_settings(const Settings& settings);

 private:
  static constexpr int kResetFadeFrames = 1024;

  int sample_rate_;
  std::array<float, 2 * kResetFadeFrames> reset_scratch_{};
  fluid_settings_t* settings_ = nullptr;
  fluid_synth_t* synth_ = nullptr;
  int soundfont_id_ = -1;
  std::string soundfont_path_;
};

}  // namespace synth
}  // namespace emsync
