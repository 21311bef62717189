/* emsync — caps strings and constants of the MIDI event stream protocol shared by our elements and upstream's
 * midiparse/fluiddec: one MIDI message per buffer, PTS = event time, 0xF9 "tick" buffers every 10 ms so a
 * synthesizer can advance time while no notes play. */
#pragma once

#define EMSYNC_MIDI_EVENT_CAPS "audio/x-midi-event"
#define EMSYNC_SMF_CAPS "audio/midi"
#define EMSYNC_MIDI_TICK 0xF9
/* The period of those tick buffers (MIDI's own 10 ms), not the 8 ms time step of the generator's tokens
 * (lib/midi/vocab.h kTickSeconds). */
#define EMSYNC_MIDI_TICK_PERIOD_MS 10
