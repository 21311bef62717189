#!/usr/bin/env python3
"""Embedding emsync from Python (PyGObject): score a video file and print its scene cuts and emotion values.

    python3 scene_messages.py in.mp4 [out.mid]

The typed metas on the video buffers are read through the gstreamer-emsync-1.0 introspection data
(gi.repository.Emsync) in a pad probe, and the bus messages through its parse helpers. With OUT.mid, the music
emsyncmidigen composes for the video is written there.

Needs python3-gi and gir1.2-gstreamer-1.0 (Debian), Emsync-1.0.typelib (installed, or GI_TYPELIB_PATH and
LD_LIBRARY_PATH pointing into a build's gst/ folder) and the emsync plugins (installed or on GST_PLUGIN_PATH).
"""
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

try:
    gi.require_version("Emsync", "1.0")
    from gi.repository import Emsync  # noqa: E402
except (ValueError, ImportError) as e:
    sys.exit(f"scene_messages.py: the Emsync-1.0 typelib is not available ({e}); install it or set "
             "GI_TYPELIB_PATH and LD_LIBRARY_PATH to a build's gst/ folder")


def seconds(t):
    return t / Gst.SECOND if t != Gst.CLOCK_TIME_NONE else float("nan")


_print_lock = threading.Lock()


def say(line):
    """Prints one line; the pad probe (streaming thread) and the bus handler (main loop) both print."""
    with _print_lock:
        print(line, flush=True)


class MetaPrinter:
    """Prints each scene-cut meta and, once per second of video, the emotion meta of an analysed frame, at the
    frame's stream time (as the bus messages give it); the meta's own times are PTS."""

    def __init__(self):
        self.next_emotion_report = 0

    def probe(self, pad, info):
        buf = info.get_buffer()
        segment = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
        time = segment.to_stream_time(Gst.Format.TIME, buf.pts)
        cut = Emsync.buffer_get_scene_cut_meta(buf)
        if cut is not None:
            say(f"scene-cut meta #{cut.index} at {seconds(time):.3f} s: {cut.kind.value_nick}, "
                f"score {cut.score:.2f}, transition PTS {seconds(cut.transition_start):.3f}"
                f"-{seconds(cut.transition_end):.3f} s")
        emotion = Emsync.buffer_get_emotion_meta(buf)
        if emotion is not None and emotion.analysed and time >= self.next_emotion_report:
            self.next_emotion_report = time + Gst.SECOND
            say(f"emotion meta at {seconds(time):.3f} s: valence {emotion.valence:+.2f} "
                f"arousal {emotion.arousal:+.2f} confidence {emotion.confidence:.2f} "
                f"(window PTS {seconds(emotion.window_start):.3f}-{seconds(emotion.window_end):.3f} s)")
        return Gst.PadProbeReturn.OK


def main():
    Gst.init(None)
    if len(sys.argv) not in (2, 3):
        print(f"usage: {sys.argv[0]} VIDEO [OUT.mid]", file=sys.stderr)
        return 2
    music = "emsyncmidigen ! emsyncmidienc ! filesink name=out" if len(sys.argv) == 3 else "fakesink"
    pipeline = Gst.parse_launch("filesrc name=src ! decodebin ! video/x-raw ! videoconvert ! emsyncscenecut ! "
                                f"emsyncemotion name=emotion ! {music}")
    pipeline.get_by_name("src").set_property("location", sys.argv[1])
    if len(sys.argv) == 3:
        pipeline.get_by_name("out").set_property("location", sys.argv[2])
    printer = MetaPrinter()
    pipeline.get_by_name("emotion").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, printer.probe)
    loop = GLib.MainLoop()
    status = {"rc": 0}

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            is_cut, cut = Emsync.scene_cut_message_parse(msg)
            is_emotion, report = Emsync.emotion_message_parse(msg)
            if is_cut:
                say(f"scene cut #{cut.index} at {seconds(cut.stream_time):.3f} s ({cut.kind.value_nick}, "
                      f"score {cut.score:.2f})")
            elif is_emotion:
                say(f"emotion at {seconds(report.stream_time):.3f} s: valence {report.emotion.valence:+.2f} "
                      f"arousal {report.emotion.arousal:+.2f} ({report.faces} faces)")
        elif msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            print(f"error: {err.message}", file=sys.stderr)
            status["rc"] = 1
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main())
