/* emsync — Standard MIDI File (SMF) reading and writing.
 *
 * Our own small implementation: Debian 12 has no well-kept SMF library (libsmf is unmaintained upstream since
 * 2011 and aborts on some malformed input; the others are tied to a toolkit or a sequencer), and the format is
 * small. The reader is bounds-checked throughout: every error is a MidiError naming the file, the byte offset and
 * what was expected, and no input can crash it or make it loop (each event consumes at least one byte; lengths
 * are checked against what remains before anything is allocated).
 *
 * Reading: formats 0 and 1 (format 2, sequential songs, is refused), metrical (ticks per quarter) and SMPTE
 * divisions, running status, sysex and meta events skipped (unknown or invalid meta events such as a key
 * signature with mode 255 are skipped, not errors; a data byte >= 0x80 is clipped to 127 like mido's clip=True),
 * tempo changes from any track forming one tempo map,
 * RIFF RMID wrappers. Notes: note-on with velocity 0 is a note-off; a note-off closes the oldest sounding note
 * of that channel and key; notes still sounding at the end of the file are dropped (like pretty_midi); the
 * program in effect on the channel at the note-on picks the group (program_map.h; channel 10 = drums; at equal
 * ticks program changes apply before notes).
 *
 * Writing: format 1 (a tempo track, then one track per given track) or format 0, no running status. Default
 * resolution 480 ticks per quarter at 125 bpm (480000 us per quarter), so one tick is exactly 1 ms and the 8 ms
 * token grid lands on whole ticks; any other tempo/resolution can be chosen, or the bars of the music's tempo map
 * (WriteOptions::meter), which the ticks then follow.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/midi/tokenizer.h"

namespace emsync::midi {

/* Every SMF read/write failure. what() names the file, the byte offset and what was expected. */
class MidiError : public std::runtime_error {
 public:
  explicit MidiError(const std::string& message) : std::runtime_error(message) {}
};

struct TempoChange {
  uint64_t tick = 0;
  uint32_t microseconds_per_quarter = 500000;
};

/* Tick -> seconds for a metrical division with tempo changes (default 120 bpm before the first change), or an
 * SMPTE division (fixed ticks per second). */
class TempoMap {
 public:
  TempoMap() = default;
  /* Metrical: changes in any order; at equal ticks the last one given wins. */
  TempoMap(int ticks_per_quarter, std::vector<TempoChange> changes);
  /* SMPTE: frames per second 24, 25, 29 (= 29.97 drop frame) or 30; ticks per frame. */
  static TempoMap smpte(int frames_per_second, int ticks_per_frame);

  double seconds(uint64_t tick) const;
  /* The inverse of seconds(): fractional ticks at a time (0 before 0). */
  double ticks(double seconds) const;
  const std::vector<TempoChange>& changes() const { return changes_; }

 private:
  int ticks_per_quarter_ = 480;
  double smpte_ticks_per_second_ = 0.0;  // > 0 for SMPTE
  std::vector<TempoChange> changes_;     // sorted, first at tick 0
  std::vector<double> change_seconds_;   // time of each change
};

/* A channel message read from a file. */
struct SmfChannelEvent {
  uint64_t tick = 0;
  double time_seconds = 0.0;
  uint16_t track = 0;
  uint8_t status = 0;  // 0x80..0xEF, channel included
  uint8_t data1 = 0;
  uint8_t data2 = 0;  // 0 for one-data-byte messages
};

struct SmfFile {
  int format = 1;
  int track_count = 0;
  int ticks_per_quarter = 0;  // 0 with an SMPTE division
  int smpte_frames_per_second = 0;
  int smpte_ticks_per_frame = 0;
  TempoMap tempo_map;
  std::vector<std::string> track_names;  // "" when a track has no name
  /* All channel messages of all tracks, by tick; equal ticks keep track order then file order. */
  std::vector<SmfChannelEvent> events;
  /* Time of the last event of any track (end-of-track included). */
  double duration_seconds = 0.0;
};

/* Parse SMF bytes; source_name appears in error messages. */
SmfFile parse_smf(const uint8_t* data, size_t size, const std::string& source_name = "<memory>");
SmfFile parse_smf(const std::vector<uint8_t>& bytes, const std::string& source_name = "<memory>");
/* Read and parse a file (files over 64 MiB are refused). */
SmfFile read_smf_file(const std::string& path);

/* Notes of a parsed file, mapped to the five groups, sorted by (start, instrument, pitch). */
std::vector<Note> notes_from_smf(const SmfFile& file);
/* read_smf_file() + notes_from_smf(). */
std::vector<Note> read_notes(const std::string& path);

/* ---- writing ---- */

/* One message to write: a channel message (status + 1 or 2 data bytes) or a sysex (0xF0 ... 0xF7). */
struct TimedMessage {
  double time_seconds = 0.0;
  std::vector<uint8_t> bytes;
};

struct SmfTrackData {
  std::string name;
  std::vector<TimedMessage> messages;  // any order; written sorted by time, equal times keep their order
};

constexpr int kDefaultTicksPerQuarter = 480;
constexpr uint32_t kDefaultMicrosecondsPerQuarter =
    480000;  // 125 bpm: 1 tick = 1 ms at 480 ticks per quarter

/* A bar of a beat grid: from start_seconds, `beats` quarter-note beats of beat_seconds each (2.5 for a 5/8 bar). */
struct MeterBar {
  double start_seconds = 0.0;
  double beat_seconds = 0.5;
  double beats = 4;
};

struct WriteOptions {
  int format = 1;                                                      // 0 or 1
  int ticks_per_quarter = kDefaultTicksPerQuarter;                     // 1..32767
  uint32_t microseconds_per_quarter = kDefaultMicrosecondsPerQuarter;  // 1..16777215
  /* Bars of the music's beat grid (the generator's tempo map), by start time. When given, the ticks follow them:
   * the tempo track carries a tempo and a time signature (beats/4) per bar where they change, each bar line falls
   * on a whole bar of ticks, and a DAW shows the music on its bars. A first bar starting before 0 is a pickup: it
   * is written from 0 with the beats that fit (3/8 for one and a half). The first bar's tempo also covers the time
   * before it, the last bar's the time after it; microseconds_per_quarter is then unused. Bars that are not
   * finite, not after the previous one, or with beats < 1 or beat_seconds <= 0 are skipped. */
  std::vector<MeterBar> meter;
};

/* SMF bytes. Throws MidiError for an invalid message or option. */
std::vector<uint8_t> write_smf(const std::vector<SmfTrackData>& tracks, const WriteOptions& options = {});

/* One track per used group ("PIANO", ...), each starting with its program change (program_map.h output
 * programs/channels), note-offs before note-ons at equal times; velocities taken from the notes (clamped 1..127). */
std::vector<SmfTrackData> tracks_from_notes(const std::vector<Note>& notes);
std::vector<uint8_t> write_notes_smf(const std::vector<Note>& notes, const WriteOptions& options = {});

TimedMessage to_timed_message(const MidiEvent& event);

/* Write bytes to a file; MidiError on failure. */
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace emsync::midi
