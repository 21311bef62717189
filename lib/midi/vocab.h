/* emsync — the EMSYNC 1011-token event vocabulary (reference §2a), as constexpr helpers.
 *
 *   0 <PAD>  1 <START>  2 <BAR>  3 <CHORD>
 *   4..128     TIMESHIFT of k = 1..125 ticks of 8 ms (token = 3 + k)
 *   129..1008  note OFF/ON: token = 129 + 176*instrument + 88*is_on + (pitch - 21), pitch 21..108,
 *              instrument BASS 0, DRUMS 1, GUITAR 2, PIANO 3, STRINGS 4
 *   1009 <LESS_INSTRUMENTS>  1010 <MORE_INSTRUMENTS>
 */
#pragma once

#include <string>

#include "lib/midi/notes.h"

namespace emsync::midi {

constexpr int kVocabSize = 1011;
/* The time step of TIMESHIFT tokens, the resolution of the music (not the 10 ms period of the 0xF9 tick messages in
 * the MIDI event stream, gst/emsynccaps.h). */
constexpr int kTickMs = 8;
constexpr double kTickSeconds = kTickMs / 1000.0;
constexpr int kMaxShiftTicks = 125;
constexpr int kMinPitch = 21;
constexpr int kMaxPitch = 108;
constexpr int kNumPitches = kMaxPitch - kMinPitch + 1;  // 88

constexpr int kPadToken = 0;
constexpr int kStartToken = 1;
constexpr int kBarToken = 2;
constexpr int kChordToken = 3;
constexpr int kTimeShiftBase = 3;                                     // token = kTimeShiftBase + ticks
constexpr int kFirstTimeShiftToken = kTimeShiftBase + 1;              // 4
constexpr int kLastTimeShiftToken = kTimeShiftBase + kMaxShiftTicks;  // 128
constexpr int kFirstNoteToken = 129;
constexpr int kTokensPerInstrument = 2 * kNumPitches;                                         // 176
constexpr int kLastNoteToken = kFirstNoteToken + kNumInstruments * kTokensPerInstrument - 1;  // 1008
constexpr int kLessInstrumentsToken = 1009;
constexpr int kMoreInstrumentsToken = 1010;
/* More than this many instruments (>= 3) selects <MORE_INSTRUMENTS>. */
constexpr int kInstrumentThreshold = 3;

constexpr bool is_valid_token(int token) {
  return token >= 0 && token < kVocabSize;
}
constexpr bool is_time_shift(int token) {
  return token >= kFirstTimeShiftToken && token <= kLastTimeShiftToken;
}
constexpr bool is_note_token(int token) {
  return token >= kFirstNoteToken && token <= kLastNoteToken;
}
constexpr bool is_special_token(int token) {
  return is_valid_token(token) && !is_time_shift(token) && !is_note_token(token);
}
constexpr bool is_valid_pitch(int pitch) {
  return pitch >= kMinPitch && pitch <= kMaxPitch;
}

/* Ticks of a TIMESHIFT token (1..125); 0 for any other token. */
constexpr int time_shift_ticks(int token) {
  return is_time_shift(token) ? token - kTimeShiftBase : 0;
}
/* TIMESHIFT token for 1..125 ticks; -1 when out of range. */
constexpr int time_shift_token(int ticks) {
  return (ticks >= 1 && ticks <= kMaxShiftTicks) ? kTimeShiftBase + ticks : -1;
}

/* Note token; -1 when the pitch is outside 21..108. */
constexpr int note_token(Instrument instrument, int pitch, bool on) {
  return is_valid_pitch(pitch) ? kFirstNoteToken + kTokensPerInstrument * instrument_index(instrument) +
                                     (on ? kNumPitches : 0) + (pitch - kMinPitch)
                               : -1;
}

/* Parts of a note token (only meaningful when is_note_token()). */
constexpr Instrument note_instrument(int token) {
  return static_cast<Instrument>((token - kFirstNoteToken) / kTokensPerInstrument);
}
constexpr bool note_is_on(int token) {
  return ((token - kFirstNoteToken) % kTokensPerInstrument) >= kNumPitches;
}
constexpr int note_pitch(int token) {
  return (token - kFirstNoteToken) % kNumPitches + kMinPitch;
}

struct NoteTokenParts {
  Instrument instrument;
  int pitch;
  bool on;
};
constexpr NoteTokenParts decode_note_token(int token) {
  return {note_instrument(token), note_pitch(token), note_is_on(token)};
}

/* Debug name, identical to models/training/vocab.py token_name(): "<BAR>", "TIMESHIFT_24" (milliseconds),
 * "ON_PIANO_60", "OFF_DRUMS_36". Out-of-range ids give "<INVALID:n>". */
std::string token_name(int token);
/* Inverse of token_name(); -1 when the name is not a token. */
int token_from_name(const std::string& name);

static_assert(kLastNoteToken == 1008, "note block must end at 1008");
static_assert(note_token(Instrument::Bass, 21, false) == 129, "first note token");
static_assert(note_token(Instrument::Strings, 108, true) == 1008, "last note token");

}  // namespace emsync::midi
