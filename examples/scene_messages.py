#!/usr/bin/env python3
"""Embedding emsync from Python (PyGObject): score a video file and print the scene cuts and emotion values.

    python3 scene_messages.py in.mp4 out.mid

Needs python3-gi and gir1.2-gstreamer-1.0 (Debian); the emsync plugins on GST_PLUGIN_PATH or installed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main():
    Gst.init(None)
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} VIDEO OUT.mid", file=sys.stderr)
        return 2
    pipeline = Gst.parse_launch(
        "filesrc name=src ! decodebin ! video/x-raw ! emsyncbin name=s "
        "s.midi ! queue ! emsyncmidienc ! filesink name=out")
    pipeline.get_by_name("src").set_property("location", sys.argv[1])
    pipeline.get_by_name("out").set_property("location", sys.argv[2])
    loop = GLib.MainLoop()
    status = {"rc": 0}

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() == "emsync-scene-cut":
                ts = s.get_value("timestamp") / Gst.SECOND
                print(f"scene cut #{s.get_value('index')} at {ts:.3f} s ({s.get_string('kind')}, "
                      f"score {s.get_value('score'):.2f})")
            elif s.get_name() == "emsync-emotion":
                ts = s.get_value("timestamp") / Gst.SECOND
                print(f"emotion at {ts:.3f} s: valence {s.get_value('valence'):+.2f} "
                      f"arousal {s.get_value('arousal'):+.2f}")
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
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main())
