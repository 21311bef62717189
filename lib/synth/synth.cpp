/* emsync — FluidSynth wrapper (see synth.h). */
#include "lib/synth/synth.h"

#include <fluidsynth.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

namespace emsync {
namespace synth {

namespace {

LogHandler log_handler = nullptr;
void* log_user_data = nullptr;

void forward_fluid_log(int level, const char* message, void*) {
  if (!log_handler) return;
  LogLevel mapped = LogLevel::Debug;
  switch (level) {
    case FLUID_PANIC:
      mapped = LogLevel::Panic;
      break;
    case FLUID_ERR:
      mapped = LogLevel::Error;
      break;
    case FLUID_WARN:
      mapped = LogLevel::Warning;
      break;
    case FLUID_INFO:
      mapped = LogLevel::Info;
      break;
    default:
      mapped = LogLevel::Debug;
      break;
  }
  log_handler(mapped, message ? message : "", log_user_data);
}

/* FluidSynth probes every audio driver it knows when settings are created; we never play through it, and the
 * probing can open sound servers, so register none (once, before the first settings object). */
void disable_audio_drivers_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* none[] = {nullptr};
    fluid_audio_driver_register(none);
  });
}

uint32_t read_le32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

std::string describe_errno(int err) {
  return std::strerror(err);
}

}  // namespace

SoundFontError::SoundFontError(Kind kind, const std::string& path, const std::string& message)
    : std::runtime_error(message), kind_(kind), path_(path) {}

void set_log_handler(LogHandler handler, void* user_data) {
  log_handler = handler;
  log_user_data = user_data;
  for (int level : {FLUID_PANIC, FLUID_ERR, FLUID_WARN, FLUID_INFO, FLUID_DBG})
    fluid_set_log_function(level, handler ? forward_fluid_log : nullptr, nullptr);
}

std::vector<std::string> default_soundfont_candidates() {
  std::vector<std::string> candidates;
  const char* from_env = std::getenv("EMSYNC_SOUNDFONT");
  if (from_env && *from_env) candidates.emplace_back(from_env);
  for (const char* path : {
           "/usr/share/sounds/sf2/TimGM6mb.sf2",
           "/usr/share/sounds/sf2/FluidR3_GM.sf2",
           "/usr/share/sounds/sf2/default-GM.sf2",
           "/usr/share/sounds/sf3/default-GM.sf3",
           "/usr/share/sounds/sf3/MuseScore_General.sf3",
           "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
           "/usr/share/soundfonts/default.sf2",
           "/usr/share/soundfonts/FluidR3_GM.sf2",
       })
    candidates.emplace_back(path);
  return candidates;
}

std::string find_default_soundfont() {
  for (const auto& path : default_soundfont_candidates()) {
    struct stat st;
    /* stat() follows the Debian alternatives links; a dangling link is skipped */
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), R_OK) == 0)
      return path;
  }
  return std::string();
}

void check_soundfont_file(const std::string& path) {
  using Kind = SoundFontError::Kind;
  if (path.empty()) throw SoundFontError(Kind::NotFound, path, "no SoundFont file given");

  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    throw SoundFontError(err == ENOENT || err == ENOTDIR ? Kind::NotFound : Kind::Unreadable, path,
                         "SoundFont '" + path + "' cannot be used: " + describe_errno(err));
  }
  if (!S_ISREG(st.st_mode))
    throw SoundFontError(Kind::Unreadable, path, "SoundFont '" + path + "' is not a regular file");

  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw SoundFontError(Kind::Unreadable, path, "SoundFont '" + path + "' cannot be opened for reading");

  char header[12] = {};
  in.read(header, sizeof header);
  if (in.gcount() != static_cast<std::streamsize>(sizeof header) || std::memcmp(header, "RIFF", 4) != 0 ||
      std::memcmp(header + 8, "sfbk", 4) != 0)
    throw SoundFontError(
        Kind::Corrupt, path,
        "'" + path +
            "' is not a SoundFont (expected a RIFF 'sfbk' file: .sf2, or .sf3 with compressed samples)");

  /* Walk the top-level chunks: a truncated or mangled file fails here with a clear message instead of deep
   * inside FluidSynth's loaders (which also try other formats and complain in confusing ways). */
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  const uint64_t riff_end = 8 + read_le32(header + 4);
  if (riff_end > file_size)
    throw SoundFontError(Kind::Corrupt, path,
                         "SoundFont '" + path + "' is truncated (" + std::to_string(file_size) + " of " +
                             std::to_string(riff_end) + " bytes)");
  bool have_info = false, have_samples = false, have_presets = false;
  uint64_t pos = 12;
  while (pos + 8 <= riff_end) {
    char chunk[12] = {};
    in.seekg(static_cast<std::streamoff>(pos));
    in.read(chunk, sizeof chunk);
    if (in.gcount() < 8) break;
    const uint64_t size = read_le32(chunk + 4);
    if (pos + 8 + size > riff_end) break;
    if (std::memcmp(chunk, "LIST", 4) == 0 && size >= 4) {
      have_info |= std::memcmp(chunk + 8, "INFO", 4) == 0;
      have_samples |= std::memcmp(chunk + 8, "sdta", 4) == 0;
      have_presets |= std::memcmp(chunk + 8, "pdta", 4) == 0;
    }
    pos += 8 + size + (size & 1);
  }
  if (!(have_info && have_samples && have_presets))
    throw SoundFontError(Kind::Corrupt, path,
                         "SoundFont '" + path + "' is damaged: it lacks its " +
                             std::string(!have_info      ? "INFO"
                                         : !have_samples ? "sample (sdta)"
                                                         : "preset (pdta)") +
                             " section");
}

Synth::Synth(int sample_rate, const Settings& settings) : sample_rate_(sample_rate) {
  if (sample_rate < kMinSampleRate || sample_rate > kMaxSampleRate)
    throw std::invalid_argument("sample rate " + std::to_string(sample_rate) + " Hz is outside " +
                                std::to_string(kMinSampleRate) + "-" + std::to_string(kMaxSampleRate) +
                                " Hz");

  disable_audio_drivers_once();
  settings_ = new_fluid_settings();
  if (!settings_) throw std::runtime_error("FluidSynth: cannot create settings");

  fluid_settings_setnum(settings_, "synth.sample-rate", sample_rate);
  fluid_settings_setnum(settings_, "synth.gain", settings.gain);
  fluid_settings_setint(settings_, "synth.polyphony", settings.polyphony);
  fluid_settings_setint(settings_, "synth.reverb.active", settings.reverb ? 1 : 0);
  fluid_settings_setint(settings_, "synth.chorus.active", settings.chorus ? 1 : 0);
  /* only the streaming thread touches the synth: no per-call mutex */
  fluid_settings_setint(settings_, "synth.threadsafe-api", 0);

  synth_ = new_fluid_synth(settings_);
  if (!synth_) {
    delete_fluid_settings(settings_);
    throw std::runtime_error("FluidSynth: cannot create a synthesizer at " + std::to_string(sample_rate) +
                             " Hz");
  }
  apply_settings(settings);
}

Synth::~Synth() {
  if (synth_) delete_fluid_synth(synth_);
  if (settings_) delete_fluid_settings(settings_);
}

void Synth::load_soundfont(const std::string& path) {
  check_soundfont_file(path);
  if (soundfont_id_ != -1) {
    fluid_synth_sfunload(synth_, soundfont_id_, 1);
    soundfont_id_ = -1;
    soundfont_path_.clear();
  }
  int id = fluid_synth_sfload(synth_, path.c_str(), 1);
  if (id == FLUID_FAILED)
    throw SoundFontError(SoundFontError::Kind::Corrupt, path,
                         "FluidSynth cannot load SoundFont '" + path + "' (damaged or unsupported file)");
  soundfont_id_ = id;
  soundfont_path_ = path;
}

bool Synth::apply_midi(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  const uint8_t status = data[0];
  if (status < 0x80) return false; /* running status: not part of the protocol */
  const int channel = status & 0x0f;
  const int data1 = size > 1 ? data[1] & 0x7f : 0;
  const int data2 = size > 2 ? data[2] & 0x7f : 0;

  switch (status & 0xf0) {
    case 0x80:
      fluid_synth_noteoff(synth_, channel, data1);
      return true;
    case 0x90:
      /* velocity 0 is a note-off; FluidSynth handles that itself */
      fluid_synth_noteon(synth_, channel, data1, data2);
      return true;
    case 0xa0:
      fluid_synth_key_pressure(synth_, channel, data1, data2);
      return true;
    case 0xb0:
      fluid_synth_cc(synth_, channel, data1, data2);
      return true;
    case 0xc0:
      fluid_synth_program_change(synth_, channel, data1);
      return true;
    case 0xd0:
      fluid_synth_channel_pressure(synth_, channel, data1);
      return true;
    case 0xe0:
      fluid_synth_pitch_bend(synth_, channel, (data2 << 7) | data1);
      return true;
    default:
      break;
  }
  if (status == 0xff) {
    reset();
    return true;
  }
  return false; /* sysex (0xF0/0xF7), ticks (0xF9) and other system messages */
}

void Synth::render_f32(float* out, size_t frames) {
  if (frames == 0) return;
  fluid_synth_write_float(synth_, static_cast<int>(frames), out, 0, 2, out, 1, 2);
}

void Synth::render_s16(int16_t* out, size_t frames) {
  if (frames == 0) return;
  fluid_synth_write_s16(synth_, static_cast<int>(frames), out, 0, 2, out, 1, 2);
}

int Synth::active_voice_count() const {
  return fluid_synth_get_active_voice_count(synth_);
}

void Synth::reset() {
  /* fluid_synth_system_reset() alone only releases the notes (they ring on) and all_sounds_off() alone leaves
   * the reverb and chorus ringing. Kill the voices, let FluidSynth run their anti-click fade into a scratch
   * buffer, then reset again to clear the effect units fed by that fade: afterwards the output is silent. */
  fluid_synth_system_reset(synth_);
  fluid_synth_all_sounds_off(synth_, -1);
  fluid_synth_write_float(synth_, kResetFadeFrames, reset_scratch_.data(), 0, 2, reset_scratch_.data(), 1, 2);
  fluid_synth_system_reset(synth_);
}

void Synth::set_gain(double gain) {
  fluid_synth_set_gain(synth_, static_cast<float>(gain));
}

void Synth::set_polyphony(int polyphony) {
  fluid_synth_set_polyphony(synth_, polyphony);
}

void Synth::set_reverb(bool on) {
  fluid_synth_reverb_on(synth_, -1, on ? 1 : 0);
}

void Synth::set_chorus(bool on) {
  fluid_synth_chorus_on(synth_, -1, on ? 1 : 0);
}

void Synth::apply_settings(const Settings& settings) {
  set_gain(settings.gain);
  set_polyphony(settings.polyphony);
  set_reverb(settings.reverb);
  set_chorus(settings.chorus);
}

}  // namespace synth
}  // namespace emsync
