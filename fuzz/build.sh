#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined) into BUILD (default build-fuzz),
# compiling the engine sources they cover directly, so the meson builds stay free of clang.
#   fuzz/build.sh [BUILD]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-fuzz}
mkdir -p "$out/obj"
CXX=${CXX:-clang++}
# -fno-sanitize-recover: undefined behaviour stops the run like a crash, so the fuzzer records the input.
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
flags="-std=c++17 -O1 -g -fno-omit-frame-pointer $san -I$top -I/usr/include/opencv4"
midi="lib/midi/vocab.cpp lib/midi/program_map.cpp lib/midi/tokenizer.cpp lib/midi/smf.cpp"
music="lib/music/generator_model.cpp lib/music/model_archive.cpp lib/music/native_decoder.cpp"
emotion="lib/emotion/face_model.cpp lib/emotion/mapping.cpp"
for src in $midi $music $emotion; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  # Up to date unless the source or a header of lib/ changed since.
  [ "$obj" -nt "$top/$src" ] && [ -z "$(find "$top/lib" -name '*.h' -newer "$obj" | head -1)" ] && continue
  echo "  CXX $src"
  $CXX $flags -fsanitize=fuzzer-no-link -c "$top/$src" -o "$obj"
done
objs() { for src in "$@"; do echo "$out/obj/$(echo "$src" | tr / _).o"; done; }
link() {
  local name=$1; shift
  echo "  LINK $name"
  $CXX $flags -fsanitize=fuzzer "$top/fuzz/$name.cpp" "$@" -o "$out/$name"
}
link smf_fuzzer $(objs $midi)
link token_decoder_fuzzer $(objs $midi)
link model_fuzzer $(objs $music $midi) -lblas -ldl -lpthread
link face_model_fuzzer $(objs $emotion) -lpthread
