// emsync-gen-eval: musical statistics of a note list and validity checks of a token stream, the same for
// generated pieces and for corpus files.
#pragma once

#include <string>
#include <vector>

#include "lib/music/key_finding.h"
#include "tools/gen-eval/common.h"
#include "tools/gen-eval/music_stats.h"

namespace gen_eval {

// Key of a piece: lib/music's Krumhansl–Schmuckler on the duration-weighted pitch classes of non-drum notes.
struct Key {
  int tonic = -1;  // -1: no pitched notes
  bool major = false;
  double r = kNaN;
  std::string name() const {
    return tonic < 0 ? "none"
                     : std::string(emsync::music::pitch_class_name(tonic)) + (major ? " major" : " minor");
  }
};

struct MusicStats {
  double duration = 0;
  long notes = 0;
  double notes_per_second = kNaN;
  double density_per_instrument = kNaN;  // midi-emotion arousal: notes / duration / #non-empty instruments
  int instruments = 0;
  double pc_entropy = kNaN;        // bits, non-drum note counts per pitch class
  double polyphony = kNaN;         // mean non-drum notes sounding while any sounds
  double silent_bar_share = kNaN;  // 2 s windows without any note sounding
  Key key;
  MusicStatistics music;  // pulse, smear, note lengths, ... (music_stats.h)
};

MusicStats music_stats(const std::vector<md::Note>& notes, double start, double end,
                       const MusicStatsOptions& options = {});
Json stats_json(const MusicStats& s);
Json music_statistics_json(const MusicStatistics& m);

// Raw-token checks (generated streams start after the [ctrl, <BAR>] primer).
struct TokenChecks {
  long tokens = 0;
  long off_of_silent = 0;
  long duplicate_on = 0;
  long masked_special = 0;  // <PAD>, <START>, <LESS_INSTRUMENTS>, <MORE_INSTRUMENTS>
  long hanging_at_end = 0;  // ON never closed
  long invalid() const { return off_of_silent + duplicate_on + masked_special; }
};

TokenChecks check_tokens(const std::vector<int>& tokens);
void add_checks(TokenChecks& sum, const TokenChecks& c);

// The MIDI the element delivers (Piece::midi: lib/music's MidiStream, finished at the end of the piece, as
// emsyncmidigen does on EOS).
struct MidiChecks {
  long note_ons = 0;
  long note_offs = 0;
  long off_without_on = 0;
  long on_while_sounding = 0;
  long time_reversals = 0;
  long hanging_after_flush = 0;
};

MidiChecks check_midi(const std::vector<md::MidiEvent>& events);
void add_checks(MidiChecks& sum, const MidiChecks& c);

}  // namespace gen_eval
