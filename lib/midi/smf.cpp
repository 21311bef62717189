/* emsync — Standard MIDI File reader and writer (design notes in smf.h). */
#include "lib/midi/smf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include "lib/midi/program_map.h"

namespace emsync::midi {

namespace {

constexpr size_t kMaxFileBytes = 64u * 1024u * 1024u;
/* Latest message time the writer accepts (about 115 days; keeps tick arithmetic far from overflow). */
constexpr double kMaxWriteSeconds = 1e7;

std::string hex_byte(unsigned value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", value & 0xFFu);
  return text;
}

/* Bounds-checked big-endian reader over [begin, end) of a buffer; offsets in messages are absolute file offsets. */
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t begin, size_t end, const std::string& source, const char* region)
      : data_(data), pos_(begin), end_(end), source_(source), region_(region) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }
  bool at_end() const { return pos_ >= end_; }

  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    throw MidiError(source_ + ": invalid MIDI file at byte offset " + std::to_string(offset) + ": " + what);
  }

  void need(size_t count, const char* what) const {
    if (remaining() < count)
      fail(pos_, std::string("expected ") + what + " (" + std::to_string(count) + " bytes) but " + region_ +
                     " has only " + std::to_string(remaining()) + " left (truncated or corrupt file?)");
  }

  uint8_t u8(const char* what) {
    need(1, what);
    return data_[pos_++];
  }
  uint8_t peek(const char* what) const {
    need(1, what);
    return data_[pos_];
  }
  uint16_t u16(const char* what) {
    need(2, what);
    uint16_t value = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return value;
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t value = (static_cast<uint32_t>(data_[pos_]) << 24) |
                     (static_cast<uint32_t>(data_[pos_ + 1]) << 16) |
                     (static_cast<uint32_t>(data_[pos_ + 2]) << 8) | data_[pos_ + 3];
    pos_ += 4;
    return value;
  }
  uint32_t u32le(const char* what) {
    need(4, what);
    uint32_t value = (static_cast<uint32_t>(data_[pos_ + 3]) << 24) |
                     (static_cast<uint32_t>(data_[pos_ + 2]) << 16) |
                     (static_cast<uint32_t>(data_[pos_ + 1]) << 8) | data_[pos_];
    pos_ += 4;
    return value;
  }
  bool tag_is(const char* tag) const { return remaining() >= 4 && std::memcmp(data_ + pos_, tag, 4) == 0; }
  std::string tag_text() const {
    std::string text;
    for (size_t i = 0; i < 4 && pos_ + i < end_; i++) {
      uint8_t c = data_[pos_ + i];
      text += (c >= 32 && c < 127) ? static_cast<char>(c) : '?';
    }
    return text;
  }
  /* Variable-length quantity: at most 4 bytes (28 bits). */
  uint32_t varlen(const char* what) {
    size_t start = pos_;
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) {
      uint8_t byte = u8(what);
      value = (value << 7) | (byte & 0x7Fu);
      if (!(byte & 0x80u)) return value;
    }
    fail(start, std::string("expected ") + what + " as a variable-length number of at most 4 bytes");
  }
  void skip(size_t count, const char* what) {
    need(count, what);
    pos_ += count;
  }
  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  size_t pos_;
  size_t end_;
  const std::string& source_;
  const char* region_;
};

struct RawTrack {
  std::vector<SmfChannelEvent> events;
  std::vector<TempoChange> tempos;
  std::string name;
  uint64_t end_tick = 0;
};

/* Parse one MTrk body in [begin, end). */
RawTrack parse_track(const uint8_t* data, size_t begin, size_t end, uint16_t track_index,
                     const std::string& source) {
  ByteReader reader(data, begin, end, source, "the track chunk");
  RawTrack track;
  uint64_t tick = 0;
  uint8_t running_status = 0;
  while (!reader.at_end()) {
    tick += reader.varlen("an event delta time");
    const size_t event_offset = reader.position();
    uint8_t status = reader.peek("an event status byte");
    if (status == 0xFF) {
      reader.u8("meta event");
      uint8_t type = reader.u8("a meta event type");
      uint32_t length = reader.varlen("a meta event length");
      reader.need(length, "meta event data");
      const uint8_t* payload = reader.here();
      reader.skip(length, "meta event data");
      if (type == 0x2F) break;  // end of track: anything after it in the chunk is ignored
      if (type == 0x51 && length == 3) {
        uint32_t tempo = (static_cast<uint32_t>(payload[0]) << 16) | (payload[1] << 8) | payload[2];
        if (tempo > 0) track.tempos.push_back({tick, tempo});
      } else if (type == 0x03 && track.name.empty()) {
        track.name.assign(reinterpret_cast<const char*>(payload), length);
      }
      /* every other meta event (and malformed tempo/key signatures) is skipped */
      continue;
    }
    if (status == 0xF0 || status == 0xF7) {
      reader.u8("sysex");
      uint32_t length = reader.varlen("a sysex length");
      reader.skip(length, "sysex data");
      continue;
    }
    if (status >= 0xF1) {
      reader.fail(
          event_offset,
          "system message " + hex_byte(status) +
              " is not allowed in a MIDI file (expected a channel message, sysex 0xF0/0xF7 or meta 0xFF)");
    }
    if (status & 0x80) {
      reader.u8("status");
      running_status = status;
    } else if (running_status == 0) {
      reader.fail(event_offset,
                  "data byte " + hex_byte(status) + " with no running status (expected a status byte)");
    } else {
      status = running_status;
    }
    SmfChannelEvent event;
    event.tick = tick;
    event.track = track_index;
    event.status = status;
    const int data_bytes = channel_message_data_bytes(status);
    for (int i = 0; i < data_bytes; i++) {
      uint8_t value = reader.u8("a channel message data byte");
      /* a data byte >= 0x80 is a corrupt value in an otherwise aligned stream in the files we have seen
       * (e.g. a note-off velocity of 0xFF): clip it to 127 like mido's clip=True instead of refusing the file */
      (i == 0 ? event.data1 : event.data2) = value & 0x80 ? 0x7F : value;
    }
    track.events.push_back(event);
  }
  track.end_tick = tick;
  return track;
}

SmfFile parse_smf_region(const uint8_t* data, size_t begin, size_t end, const std::string& source) {
  ByteReader reader(data, begin, end, source, "the file");
  if (reader.remaining() == 0) reader.fail(begin, "the file is empty (expected a \"MThd\" header)");
  if (!reader.tag_is("MThd"))
    reader.fail(begin, "expected the \"MThd\" header, found \"" + reader.tag_text() +
                           "\" (not a Standard MIDI File)");
  reader.skip(4, "MThd");
  uint32_t header_length = reader.u32("the header length");
  if (header_length < 6)
    reader.fail(reader.position() - 4,
                "header length " + std::to_string(header_length) + " is shorter than 6");
  reader.need(header_length, "the header");
  SmfFile file;
  size_t format_offset = reader.position();
  uint16_t format = reader.u16("the format");
  uint16_t track_count = reader.u16("the track count");
  size_t division_offset = reader.position();
  uint16_t division = reader.u16("the division");
  reader.skip(header_length - 6, "the rest of the header");
  if (format == 2)
    reader.fail(format_offset,
                "format 2 (independent sequential songs) is not supported; convert it to format 1");
  if (format > 2)
    reader.fail(format_offset, "unknown format " + std::to_string(format) + " (expected 0 or 1)");
  if (track_count == 0) reader.fail(format_offset + 2, "the header declares 0 tracks");
  file.format = format;
  file.track_count = track_count;
  if (division & 0x8000) {
    int frames = -static_cast<int8_t>(division >> 8);
    int ticks_per_frame = division & 0xFF;
    if ((frames != 24 && frames != 25 && frames != 29 && frames != 30) || ticks_per_frame == 0)
      reader.fail(division_offset, "invalid SMPTE division " + std::to_string(frames) + " fps x " +
                                       std::to_string(ticks_per_frame) + " ticks per frame");
    file.smpte_frames_per_second = frames;
    file.smpte_ticks_per_frame = ticks_per_frame;
  } else {
    if (division == 0) reader.fail(division_offset, "division of 0 ticks per quarter note");
    file.ticks_per_quarter = division;
  }

  std::vector<RawTrack> tracks;
  while (static_cast<int>(tracks.size()) < track_count) {
    if (reader.at_end())
      reader.fail(reader.position(), "the file ends after " + std::to_string(tracks.size()) + " of " +
                                         std::to_string(track_count) + " track chunks (truncated file?)");
    size_t chunk_offset = reader.position();
    reader.need(8, "a chunk header (type and length)");
    bool is_track = reader.tag_is("MTrk");
    reader.skip(4, "chunk type");
    uint32_t length = reader.u32("a chunk length");
    if (length > reader.remaining())
      reader.fail(chunk_offset, std::string(is_track ? "track" : "unknown") + " chunk declares " +
                                    std::to_string(length) + " bytes but only " +
                                    std::to_string(reader.remaining()) +
                                    " remain (truncated file or bogus chunk length)");
    if (is_track)
      tracks.push_back(parse_track(data, reader.position(), reader.position() + length,
                                   static_cast<uint16_t>(tracks.size()), source));
    reader.skip(length, "chunk body");
  }

  /* Tempo map from all tracks; stable sort keeps (track, file order) at equal ticks. */
  std::vector<TempoChange> tempos;
  for (const RawTrack& track : tracks) tempos.insert(tempos.end(), track.tempos.begin(), track.tempos.end());
  if (file.ticks_per_quarter > 0)
    file.tempo_map = TempoMap(file.ticks_per_quarter, std::move(tempos));
  else
    file.tempo_map = TempoMap::smpte(file.smpte_frames_per_second, file.smpte_ticks_per_frame);

  size_t total = 0;
  uint64_t end_tick = 0;
  for (const RawTrack& track : tracks) {
    total += track.events.size();
    end_tick = std::max(end_tick, track.end_tick);
  }
  file.events.reserve(total);
  for (RawTrack& track : tracks) {
    file.events.insert(file.events.end(), track.events.begin(), track.events.end());
    file.track_names.push_back(std::move(track.name));
  }
  std::stable_sort(file.events.begin(), file.events.end(),
                   [](const SmfChannelEvent& a, const SmfChannelEvent& b) { return a.tick < b.tick; });
  for (SmfChannelEvent& event : file.events) event.time_seconds = file.tempo_map.seconds(event.tick);
  file.duration_seconds = file.tempo_map.seconds(end_tick);
  return file;
}

void put_u16(std::vector<uint8_t>& out, uint32_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}
void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  put_u16(out, value >> 16);
  put_u16(out, value & 0xFFFFu);
}
void put_varlen(std::vector<uint8_t>& out, uint32_t value) {
  uint8_t bytes[4];
  int count = 0;
  do {
    bytes[count++] = static_cast<uint8_t>(value & 0x7F);
    value >>= 7;
  } while (value && count < 4);
  for (int i = count - 1; i >= 0; i--) out.push_back(static_cast<uint8_t>(bytes[i] | (i ? 0x80 : 0)));
}

struct TickMessage {
  uint64_t tick;
  const std::vector<uint8_t>* bytes;
};

void check_message(const std::vector<uint8_t>& bytes) {
  if (bytes.empty()) throw MidiError("SMF writer: empty MIDI message");
  uint8_t status = bytes[0];
  if (status == 0xF0) {
    if (bytes.size() < 2 || bytes.back() != 0xF7)
      throw MidiError("SMF writer: a sysex message must start with 0xF0 and end with 0xF7");
    return;
  }
  int data_bytes = channel_message_data_bytes(status);
  if (data_bytes == 0)
    throw MidiError("SMF writer: status " + hex_byte(status) + " is not a channel message or sysex");
  if (static_cast<int>(bytes.size()) != 1 + data_bytes)
    throw MidiError("SMF writer: message " + hex_byte(status) + " needs " + std::to_string(data_bytes) +
                    " data bytes, got " + std::to_string(bytes.size() - 1));
  for (size_t i = 1; i < bytes.size(); i++)
    if (bytes[i] & 0x80)
      throw MidiError("SMF writer: data byte " + hex_byte(bytes[i]) + " of message " + hex_byte(status) +
                      " is >= 0x80");
}

/* Append an MTrk chunk; meta_prefix holds already-encoded delta-0 meta events (name, tempo). */
void append_track_chunk(std::vector<uint8_t>& out, const std::vector<uint8_t>& meta_prefix,
                        std::vector<TickMessage> messages) {
  std::stable_sort(messages.begin(), messages.end(),
                   [](const TickMessage& a, const TickMessage& b) { return a.tick < b.tick; });
  std::vector<uint8_t> body = meta_prefix;
  uint64_t previous = 0;
  for (const TickMessage& message : messages) {
    uint64_t delta = message.tick - previous;
    /* a delta time holds 28 bits (74 h at 1 ms ticks, 65 min at 32767 ticks per quarter): bridge longer gaps
     * with empty text meta events */
    while (delta > 0x0FFFFFFFu) {
      put_varlen(body, 0x0FFFFFFFu);
      body.insert(body.end(), {0xFF, 0x01, 0x00});
      delta -= 0x0FFFFFFFu;
    }
    put_varlen(body, static_cast<uint32_t>(delta));
    previous = message.tick;
    const std::vector<uint8_t>& bytes = *message.bytes;
    if (bytes[0] == 0xF0) {
      body.push_back(0xF0);
      put_varlen(body, static_cast<uint32_t>(bytes.size() - 1));
      body.insert(body.end(), bytes.begin() + 1, bytes.end());
    } else {
      body.insert(body.end(), bytes.begin(), bytes.end());
    }
  }
  body.insert(body.end(), {0x00, 0xFF, 0x2F, 0x00});
  out.insert(out.end(), {'M', 'T', 'r', 'k'});
  put_u32(out, static_cast<uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

std::vector<uint8_t> name_meta(const std::string& name) {
  std::vector<uint8_t> out;
  if (name.empty()) return out;
  std::string text = name.substr(0, 255);
  out.insert(out.end(), {0x00, 0xFF, 0x03});
  put_varlen(out, static_cast<uint32_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
  return out;
}

std::vector<uint8_t> tempo_event(uint32_t microseconds_per_quarter) {
  return {0xFF,
          0x51,
          0x03,
          static_cast<uint8_t>(microseconds_per_quarter >> 16),
          static_cast<uint8_t>(microseconds_per_quarter >> 8),
          static_cast<uint8_t>(microseconds_per_quarter)};
}

/* The tempo event at delta 0 (a track's opening meta events). */
std::vector<uint8_t> tempo_meta(uint32_t microseconds_per_quarter) {
  std::vector<uint8_t> out{0x00};
  const std::vector<uint8_t> event = tempo_event(microseconds_per_quarter);
  out.insert(out.end(), event.begin(), event.end());
  return out;
}

/* numerator / 2^denominator_power, a metronome click every quarter */
std::vector<uint8_t> time_signature_meta(int numerator, int denominator_power) {
  return {0xFF, 0x58, 0x04, static_cast<uint8_t>(numerator), static_cast<uint8_t>(denominator_power), 24, 8};
}

/* The tempo map and tempo-track events of WriteOptions::meter; no events when no bar is usable. */
struct MeterTrack {
  TempoMap map;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> events;  // meta events (no delta) by tick
};

MeterTrack meter_track(const std::vector<MeterBar>& meter, int ticks_per_quarter) {
  std::vector<MeterBar> bars;
  for (MeterBar b : meter) {
    if (bars.empty() && b.start_seconds < 0.0) b.start_seconds = 0.0;  // a pickup: the music starts inside it
    if (std::isfinite(b.start_seconds) && b.start_seconds >= 0.0 && b.start_seconds < kMaxWriteSeconds &&
        std::isfinite(b.beat_seconds) && b.beat_seconds > 0.0 && b.beats >= 0.5 && b.beats <= 255 &&
        (bars.empty() || b.start_seconds > bars.back().start_seconds))
      bars.push_back(b);
  }
  MeterTrack out;
  if (bars.empty()) return out;
  std::vector<TempoChange> changes;
  uint64_t tick = 0;
  uint32_t previous_tempo = 0;
  std::pair<int, int> previous_signature{0, 0};
  for (size_t i = 0; i < bars.size(); i++) {
    const MeterBar& b = bars[i];
    const double seconds =
        i + 1 < bars.size() ? bars[i + 1].start_seconds - b.start_seconds : b.beats * b.beat_seconds;
    /* The bar's ticks from its beats as they fit its length (fewer for a pickup), and the tempo from its length,
     * so that the next bar line falls where it is. */
    const long long ticks = std::max(1LL, std::llround(seconds / b.beat_seconds * ticks_per_quarter));
    const uint32_t tempo = static_cast<uint32_t>(
        std::clamp<long long>(std::llround(seconds * 1e6 * ticks_per_quarter / ticks), 1, 0xFFFFFF));
    if (i == 0) /* the first bar's tempo also covers the time before it */
      tick = static_cast<uint64_t>(std::llround(b.start_seconds * 1e6 / tempo * ticks_per_quarter));
    const uint64_t at = i == 0 ? 0 : tick;
    /* a bar's length rounds to whole microseconds per quarter: a 1 us difference is no tempo change */
    if (previous_tempo == 0 || std::abs(static_cast<long long>(tempo) - previous_tempo) > 1) {
      previous_tempo = tempo;
      changes.push_back({at, tempo});
      out.events.push_back({at, tempo_event(tempo)});
    }
    /* beats/4, or eighths/8 for a bar of half beats (a pickup); none for other lengths */
    std::pair<int, int> signature{0, 0};
    if (ticks % ticks_per_quarter == 0 && ticks / ticks_per_quarter <= 255)
      signature = {static_cast<int>(ticks / ticks_per_quarter), 2};
    else if ((2 * ticks) % ticks_per_quarter == 0 && 2 * ticks / ticks_per_quarter <= 255)
      signature = {static_cast<int>(2 * ticks / ticks_per_quarter), 3};
    if (signature.first > 0 && signature != previous_signature) {
      out.events.push_back({at, time_signature_meta(signature.first, signature.second)});
      previous_signature = signature;
    }
    tick += static_cast<uint64_t>(ticks);
  }
  out.map = TempoMap(ticks_per_quarter, std::move(changes));
  return out;
}

}  // namespace

/* ---- TempoMap ---- */

TempoMap::TempoMap(int ticks_per_quarter, std::vector<TempoChange> changes)
    : ticks_per_quarter_(ticks_per_quarter > 0 ? ticks_per_quarter : 480) {
  std::stable_sort(changes.begin(), changes.end(),
                   [](const TempoChange& a, const TempoChange& b) { return a.tick < b.tick; });
  changes_.push_back({0, 500000});
  for (const TempoChange& change : changes) {
    if (change.microseconds_per_quarter == 0) continue;
    if (change.tick == changes_.back().tick)
      changes_.back() = change;
    else
      changes_.push_back(change);
  }
  change_seconds_.resize(changes_.size());
  change_seconds_[0] = 0.0;
  for (size_t i = 1; i < changes_.size(); i++)
    change_seconds_[i] =
        change_seconds_[i - 1] + static_cast<double>(changes_[i].tick - changes_[i - 1].tick) *
                                     changes_[i - 1].microseconds_per_quarter / (1e6 * ticks_per_quarter_);
}

TempoMap TempoMap::smpte(int frames_per_second, int ticks_per_frame) {
  TempoMap map;
  double fps = frames_per_second == 29 ? 29.97 : frames_per_second;
  map.smpte_ticks_per_second_ = fps * std::max(1, ticks_per_frame);
  return map;
}

double TempoMap::seconds(uint64_t tick) const {
  if (smpte_ticks_per_second_ > 0.0) return static_cast<double>(tick) / smpte_ticks_per_second_;
  if (changes_.empty()) return static_cast<double>(tick) * 500000.0 / (1e6 * ticks_per_quarter_);
  auto it = std::upper_bound(changes_.begin(), changes_.end(), tick,
                             [](uint64_t value, const TempoChange& change) { return value < change.tick; });
  size_t index = static_cast<size_t>(std::distance(changes_.begin(), it)) - 1;
  return change_seconds_[index] + static_cast<double>(tick - changes_[index].tick) *
                                      changes_[index].microseconds_per_quarter / (1e6 * ticks_per_quarter_);
}

double TempoMap::ticks(double seconds) const {
  if (!(seconds > 0.0)) return 0.0;
  if (smpte_ticks_per_second_ > 0.0) return seconds * smpte_ticks_per_second_;
  if (changes_.empty()) return seconds * 1e6 * ticks_per_quarter_ / 500000.0;
  auto it = std::upper_bound(change_seconds_.begin(), change_seconds_.end(), seconds);
  size_t index = static_cast<size_t>(std::distance(change_seconds_.begin(), it)) - 1;
  return static_cast<double>(changes_[index].tick) + (seconds - change_seconds_[index]) * 1e6 *
                                                         ticks_per_quarter_ /
                                                         changes_[index].microseconds_per_quarter;
}

/* ---- reading ---- */

SmfFile parse_smf(const uint8_t* data, size_t size, const std::string& source_name) {
  if (data == nullptr || size == 0)
    throw MidiError(source_name +
                    ": invalid MIDI file at byte offset 0: the file is empty (expected a \"MThd\" header)");
  /* RIFF RMID wrapper: find the "data" chunk (little-endian lengths). */
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "RMID", 4) == 0) {
    ByteReader reader(data, 12, size, source_name, "the RIFF file");
    while (true) {
      if (reader.at_end()) reader.fail(reader.position(), "RIFF RMID file without a \"data\" chunk");
      bool is_data = reader.tag_is("data");
      reader.skip(4, "a RIFF chunk type");
      uint32_t length = reader.u32le("a RIFF chunk length");
      if (length > reader.remaining())
        reader.fail(reader.position() - 8, "RIFF chunk declares " + std::to_string(length) +
                                               " bytes but only " + std::to_string(reader.remaining()) +
                                               " remain");
      if (is_data) return parse_smf_region(data, reader.position(), reader.position() + length, source_name);
      reader.skip(length, "a RIFF chunk");
      if ((length & 1u) && !reader.at_end()) reader.skip(1, "RIFF chunk padding");
    }
  }
  return parse_smf_region(data, 0, size, source_name);
}

SmfFile parse_smf(const std::vector<uint8_t>& bytes, const std::string& source_name) {
  return parse_smf(bytes.data(), bytes.size(), source_name);
}

SmfFile read_smf_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw MidiError(path + ": cannot open the MIDI file for reading");
  stream.seekg(0, std::ios::end);
  std::streamoff length = stream.tellg();
  if (length < 0) throw MidiError(path + ": cannot determine the file size");
  if (static_cast<uint64_t>(length) > kMaxFileBytes)
    throw MidiError(path + ": " + std::to_string(length) + " bytes is too large for a MIDI file (limit " +
                    std::to_string(kMaxFileBytes) + ")");
  stream.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(length));
  if (length > 0 && !stream.read(reinterpret_cast<char*>(bytes.data()), length))
    throw MidiError(path + ": read error");
  return parse_smf(bytes, path);
}

std::vector<Note> notes_from_smf(const SmfFile& file) {
  struct Sounding {
    uint64_t start_tick;
    double start_seconds;
    int velocity;
    std::optional<Instrument> instrument;
  };
  std::map<int, std::deque<Sounding>> sounding;  // channel * 128 + key
  int program[16] = {};
  std::vector<Note> notes;
  const auto& events = file.events;
  size_t i = 0;
  while (i < events.size()) {
    size_t group_end = i;
    while (group_end < events.size() && events[group_end].tick == events[i].tick) group_end++;
    for (size_t j = i; j < group_end; j++)
      if ((events[j].status & 0xF0) == 0xC0) program[events[j].status & 0x0F] = events[j].data1;
    for (size_t j = i; j < group_end; j++) {
      const SmfChannelEvent& event = events[j];
      const int type = event.status & 0xF0;
      const int channel = event.status & 0x0F;
      const int key = channel * 128 + event.data1;
      if (type == 0x90 && event.data2 > 0) {
        sounding[key].push_back({event.tick, event.time_seconds, event.data2,
                                 instrument_for_program(program[channel], channel == kDrumChannel)});
      } else if (type == 0x80 || type == 0x90) {
        auto it = sounding.find(key);
        if (it == sounding.end() || it->second.empty()) continue;  // note-off without a sounding note
        Sounding note = it->second.front();
        it->second.pop_front();
        if (note.instrument)
          notes.push_back(
              {*note.instrument, event.data1, note.start_seconds, event.time_seconds, note.velocity});
      }
    }
    i = group_end;
  }
  std::stable_sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
    if (a.start_seconds != b.start_seconds) return a.start_seconds < b.start_seconds;
    if (a.instrument != b.instrument) return a.instrument < b.instrument;
    return a.pitch < b.pitch;
  });
  return notes;
}

std::vector<Note> read_notes(const std::string& path) {
  return notes_from_smf(read_smf_file(path));
}

/* ---- writing ---- */

std::vector<uint8_t> write_smf(const std::vector<SmfTrackData>& tracks, const WriteOptions& options) {
  if (options.format != 0 && options.format != 1)
    throw MidiError("SMF writer: format " + std::to_string(options.format) + " is not supported (0 or 1)");
  if (options.ticks_per_quarter < 1 || options.ticks_per_quarter > 0x7FFF)
    throw MidiError("SMF writer: ticks per quarter must be 1..32767, got " +
                    std::to_string(options.ticks_per_quarter));
  if (options.microseconds_per_quarter < 1 || options.microseconds_per_quarter > 0xFFFFFF)
    throw MidiError("SMF writer: microseconds per quarter must be 1..16777215");
  if (tracks.size() > 0xFFFE) throw MidiError("SMF writer: too many tracks");

  const double ticks_per_second = 1e6 * options.ticks_per_quarter / options.microseconds_per_quarter;
  const MeterTrack meter = meter_track(options.meter, options.ticks_per_quarter);
  const bool metered = !meter.events.empty();
  auto to_tick = [&](double seconds) -> uint64_t {
    if (!(seconds > 0.0)) return 0;
    if (!(seconds < kMaxWriteSeconds))
      throw MidiError("SMF writer: message time " + std::to_string(seconds) + " s is beyond the " +
                      std::to_string(kMaxWriteSeconds) + " s limit");
    return static_cast<uint64_t>(
        std::llround(metered ? meter.map.ticks(seconds) : seconds * ticks_per_second));
  };
  std::vector<TickMessage> meter_events;
  for (const auto& event : meter.events) meter_events.push_back({event.first, &event.second});

  std::vector<uint8_t> out;
  out.insert(out.end(), {'M', 'T', 'h', 'd'});
  put_u32(out, 6);
  put_u16(out, static_cast<uint32_t>(options.format));
  put_u16(out, options.format == 0 ? 1u : static_cast<uint32_t>(tracks.size() + 1));
  put_u16(out, static_cast<uint32_t>(options.ticks_per_quarter));

  if (options.format == 0) {
    std::vector<TickMessage> all = meter_events;
    for (const SmfTrackData& track : tracks)
      for (const TimedMessage& message : track.messages) {
        check_message(message.bytes);
        all.push_back({to_tick(message.time_seconds), &message.bytes});
      }
    append_track_chunk(out, metered ? std::vector<uint8_t>{} : tempo_meta(options.microseconds_per_quarter),
                       std::move(all));
    return out;
  }
  std::vector<uint8_t> conductor = name_meta("emsync");
  if (!metered) {
    std::vector<uint8_t> tempo = tempo_meta(options.microseconds_per_quarter);
    conductor.insert(conductor.end(), tempo.begin(), tempo.end());
  }
  append_track_chunk(out, conductor, meter_events);
  for (const SmfTrackData& track : tracks) {
    std::vector<TickMessage> messages;
    messages.reserve(track.messages.size());
    for (const TimedMessage& message : track.messages) {
      check_message(message.bytes);
      messages.push_back({to_tick(message.time_seconds), &message.bytes});
    }
    append_track_chunk(out, name_meta(track.name), std::move(messages));
  }
  return out;
}

TimedMessage to_timed_message(const MidiEvent& event) {
  TimedMessage message;
  message.time_seconds = event.time_seconds;
  message.bytes.push_back(event.status);
  int data_bytes = channel_message_data_bytes(event.status);
  if (data_bytes >= 1) message.bytes.push_back(event.data1);
  if (data_bytes >= 2) message.bytes.push_back(event.data2);
  return message;
}

std::vector<SmfTrackData> tracks_from_notes(const std::vector<Note>& notes) {
  std::vector<SmfTrackData> tracks;
  for (int index = 0; index < kNumInstruments; index++) {
    const Instrument instrument = static_cast<Instrument>(index);
    /* order at equal times: offs of sounding notes, then ons, then offs of zero-length notes */
    struct Timed {
      double time;
      int order;
      uint8_t pitch;
      uint8_t velocity;
    };
    std::vector<Timed> timed;
    for (const Note& note : notes) {
      if (note.instrument != instrument || note.pitch < 0 || note.pitch > 127) continue;
      uint8_t velocity = static_cast<uint8_t>(std::clamp(note.velocity, 1, 127));
      double start = std::max(0.0, note.start_seconds);
      double end = std::max(start, note.end_seconds);
      timed.push_back({start, 1, static_cast<uint8_t>(note.pitch), velocity});
      timed.push_back({end, end > start ? 0 : 2, static_cast<uint8_t>(note.pitch), 0});
    }
    if (timed.empty()) continue;
    std::stable_sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.order < b.order;
    });
    SmfTrackData track;
    track.name = instrument_name(instrument);
    const uint8_t channel = output_channel(instrument);
    if (instrument != Instrument::Drums)
      track.messages.push_back({0.0, {static_cast<uint8_t>(0xC0 | channel), output_program(instrument)}});
    for (const Timed& event : timed)
      track.messages.push_back(
          {event.time,
           event.order == 1
               ? std::vector<uint8_t>{static_cast<uint8_t>(0x90 | channel), event.pitch, event.velocity}
               : std::vector<uint8_t>{static_cast<uint8_t>(0x80 | channel), event.pitch, 0}});
    tracks.push_back(std::move(track));
  }
  return tracks;
}

std::vector<uint8_t> write_notes_smf(const std::vector<Note>& notes, const WriteOptions& options) {
  return write_smf(tracks_from_notes(notes), options);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  if (!stream) throw MidiError(path + ": cannot open for writing");
  stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!stream) throw MidiError(path + ": write error");
}

}  // namespace emsync::midi
