/* emsync — vocabulary names. */
#include "lib/midi/vocab.h"

#include <cstdlib>

namespace emsync::midi {

const char* instrument_name(Instrument instrument) {
  switch (instrument) {
    case Instrument::Bass:
      return "BASS";
    case Instrument::Drums:
      return "DRUMS";
    case Instrument::Guitar:
      return "GUITAR";
    case Instrument::Piano:
      return "PIANO";
    case Instrument::Strings:
      return "STRINGS";
  }
  return "UNKNOWN";
}

std::string token_name(int token) {
  switch (token) {
    case kPadToken:
      return "<PAD>";
    case kStartToken:
      return "<START>";
    case kBarToken:
      return "<BAR>";
    case kChordToken:
      return "<CHORD>";
    case kLessInstrumentsToken:
      return "<LESS_INSTRUMENTS>";
    case kMoreInstrumentsToken:
      return "<MORE_INSTRUMENTS>";
    default:
      break;
  }
  if (is_time_shift(token)) return "TIMESHIFT_" + std::to_string(time_shift_ticks(token) * kTickMs);
  if (is_note_token(token))
    return std::string(note_is_on(token) ? "ON_" : "OFF_") + instrument_name(note_instrument(token)) + "_" +
           std::to_string(note_pitch(token));
  return "<INVALID:" + std::to_string(token) + ">";
}

int token_from_name(const std::string& name) {
  for (int token :
       {kPadToken, kStartToken, kBarToken, kChordToken, kLessInstrumentsToken, kMoreInstrumentsToken})
    if (name == token_name(token)) return token;
  auto parse_int = [](const std::string& text, int& value) {
    if (text.empty() || text.size() > 6) return false;
    for (char c : text)
      if (c < '0' || c > '9') return false;
    value = std::atoi(text.c_str());
    return true;
  };
  const std::string shift_prefix = "TIMESHIFT_";
  if (name.compare(0, shift_prefix.size(), shift_prefix) == 0) {
    int ms = 0;
    if (!parse_int(name.substr(shift_prefix.size()), ms) || ms % kTickMs != 0) return -1;
    return time_shift_token(ms / kTickMs);
  }
  bool on;
  std::string rest;
  if (name.compare(0, 3, "ON_") == 0) {
    on = true;
    rest = name.substr(3);
  } else if (name.compare(0, 4, "OFF_") == 0) {
    on = false;
    rest = name.substr(4);
  } else {
    return -1;
  }
  auto sep = rest.find('_');
  if (sep == std::string::npos) return -1;
  std::string group = rest.substr(0, sep);
  int pitch = 0;
  if (!parse_int(rest.substr(sep + 1), pitch)) return -1;
  for (int i = 0; i < kNumInstruments; i++) {
    auto instrument = static_cast<Instrument>(i);
    if (group == instrument_name(instrument)) return note_token(instrument, pitch, on);
  }
  return -1;
}

}  // namespace emsync::midi
