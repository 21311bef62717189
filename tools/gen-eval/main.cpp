// emsync-gen-eval: speed, scene-cut sync, emotion and musicality evaluation of an emsync generator model.
//
//   emsync-gen-eval speed   --model M [--threads 1] [--seconds 30] [--ref-steps 24] [--json out.json]
//   emsync-gen-eval sync    --model M [--pieces 20] [--seconds 60] [--seed S] [--json out.json]
//   emsync-gen-eval emotion --model M [--seconds 30] [--seeds 3] [--grid -0.8,-0.4,0,0.4,0.8] [--json out.json]
//   emsync-gen-eval stats   --model M [--pieces 5] [--seconds 60] [--sync hard|soft|none] [--json out.json]
//   emsync-gen-eval stats   --midi DIR_OR_FILE... [--max-files 40] [--seed S] [--json out.json]
//
// Tables are printed as markdown pipe tables (readable in a terminal, pasteable into results.md).
// Everything runs on the CPU through lib/music (the same Composer/GeneratorSession the element uses).
//
// One file per command (speed.cpp, sync.cpp, emotion.cpp, stats.cpp); common.{h,cpp} holds the command line,
// model loading, composing, JSON and tables; musicality.{h,cpp} the statistics and checks of a note list.
#include <cstdio>
#include <exception>

#include "lib/music/torchscript_support.h"
#include "tools/gen-eval/common.h"

int main(int argc, char** argv) {
  using namespace gen_eval;
  Args a = parse_args(argc, argv);
  try {
    if (a.command == "speed") {
      mu::enable_torchscript();  // for the TorchScript-step column
      return cmd_speed(a);
    }
    if (a.command == "sync") return cmd_sync(a);
    if (a.command == "emotion") return cmd_emotion(a);
    if (a.command == "stats") return cmd_stats(a);
    std::fprintf(stderr, "emsync-gen-eval: unknown command '%s'\n", a.command.c_str());
    usage(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emsync-gen-eval: %s\n", e.what());
    return 1;
  }
}
