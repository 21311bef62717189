/* emsync — notes <-> EMSYNC tokens, and a streaming token -> MIDI message decoder.
 *
 * Encoding (notes -> tokens), time grid of 8 ms ticks:
 *  - every note's start and end are rounded to the nearest tick from their *absolute* time (so rounding error never
 *    accumulates: each decoded time is within 4 ms of the original);
 *  - time advances with TIMESHIFT tokens of at most 125 ticks (1 s); a longer gap is several tokens;
 *  - pitches outside 21..108 are dropped; a note shorter than half a tick becomes a zero-length ON+OFF pair;
 *  - order inside one time step (midi-emotion's order, ON before OFF, then instrument priority DRUMS, BASS, GUITAR,
 *    PIANO, STRINGS, then ascending pitch, like models/training/vocab.py):
 *        <BAR>, <CHORD>, re-articulation OFFs, all ONs, all other OFFs
 *    "Re-articulation OFFs": when a key (instrument, pitch) that is still sounding is struck again in this step, its
 *    OFF is placed before the new ON. With the plain ON-before-OFF order the decoder would see ON ON OFF, overwrite
 *    the first note and close the second at once, losing both notes.
 *  - the token stream cannot hold two overlapping notes of one key: the earlier note is cut where the later starts
 *    (its own OFF is then not emitted); several notes of one key starting in the same step keep only the longest.
 *
 * Decoding (tokens -> notes) follows the reference rules (§2e.8): ON opens (instrument, pitch), the matching OFF
 * closes it, an unmatched OFF is ignored, a second ON of an open key overwrites the first (which is lost), notes
 * still open at the end are dropped (unless DecodeOptions::close_open_notes), special tokens are skipped.
 * Velocity: 80, except PIANO/GUITAR note-ons after a <CHORD> token and before the next TIMESHIFT get 120.
 */
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/midi/vocab.h"

namespace emsync::midi {

constexpr int kDefaultVelocity = 80;
constexpr int kChordVelocity = 120;

/* Longest time encode() accepts (24 h): the token stream grows by one token per second of silence. */
constexpr double kMaxEncodeSeconds = 86400.0;

/* Nearest 8 ms tick of a time in seconds (negative and NaN times give tick 0; times beyond kMaxEncodeSeconds
 * are clamped there). */
int64_t seconds_to_ticks(double seconds);

struct EncodeOptions {
  /* Times (seconds) where a <CHORD> / <BAR> token is placed at the start of the time step. */
  std::vector<double> chord_times;
  std::vector<double> bar_times;
};

/* Notes -> tokens (no <START>/instrument prefix; time starts at 0 s). Throws std::out_of_range for a note or
 * marker later than kMaxEncodeSeconds. */
std::vector<int> encode(const std::vector<Note>& notes, const EncodeOptions& options = {});

/* TIMESHIFT tokens for a positive number of ticks (125-tick tokens then the remainder). */
void append_time_shift(std::vector<int>& tokens, int64_t ticks);

struct DecodeOptions {
  /* Streaming use: close notes still open at the end instead of dropping them (reference: dropped). */
  bool close_open_notes = false;
  /* Where to close them: this time if >= the end of the token stream, else the end of the token stream. */
  double end_seconds = 0.0;
};

/* Tokens -> notes sorted by (start, instrument, pitch). Throws std::out_of_range for a token outside 0..1010. */
std::vector<Note> decode(const std::vector<int>& tokens, const DecodeOptions& options = {});

/* Times (seconds) of the <CHORD> tokens in a token stream. */
std::vector<double> chord_times(const std::vector<int>& tokens);

/* Total time (seconds) covered by a token stream's TIMESHIFTs. */
double tokens_duration(const std::vector<int>& tokens);

/* One MIDI channel message with its time. status includes the channel (0x90 | channel, ...);
 * data2 is 0 for two-byte messages (program change). */
struct MidiEvent {
  double time_seconds = 0.0;
  uint8_t status = 0;
  uint8_t data1 = 0;
  uint8_t data2 = 0;
};

/* Number of data bytes of a channel message status (0x80..0xEF): 1 or 2; 0 for anything else. */
int channel_message_data_bytes(uint8_t status);

/* Turns a live token stream into MIDI messages, one token at a time (for the generator element).
 * Channels/programs: program_map.h (DRUMS channel 9). A duplicate ON of a sounding key sends a note-off then the
 * note-on so no note hangs in a synthesizer; an OFF of a silent key sends nothing; special tokens send nothing.
 * Times are start_seconds + ticks * 8 ms, computed from an integer tick count (no drift).
 * push() appends into a caller-owned vector to allow a no-allocation steady state; the returning overloads are
 * for convenience. */
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(double start_seconds = 0.0);

  /* Forget everything; time restarts at start_seconds. */
  void reset(double start_seconds = 0.0);

  /* Program changes for the four melodic groups, at the current time. */
  std::vector<MidiEvent> start() const;
  void start(std::vector<MidiEvent>& out) const;

  /* Feed one token; returns the MIDI messages it causes (possibly none). Throws std::out_of_range for an invalid id. */
  std::vector<MidiEvent> push(int token);
  void push(int token, std::vector<MidiEvent>& out);

  /* Note-offs for every sounding note, at max(end_seconds, time_seconds()) so times never go backwards. */
  std::vector<MidiEvent> flush(double end_seconds);
  void flush(double end_seconds, std::vector<MidiEvent>& out);

  /* Current time cursor: start + elapsed TIMESHIFTs. */
  double time_seconds() const;
  int64_t ticks() const { return ticks_; }
  /* Number of notes sounding now. */
  int sounding_notes() const;

 private:
  double start_seconds_ = 0.0;
  int64_t ticks_ = 0;
  bool after_chord_ = false;
  std::array<std::array<bool, kNumPitches>, kNumInstruments> sounding_{};
};

}  // namespace emsync::midi
