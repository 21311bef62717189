// emsync scene engine — a read-only, stride-aware view of one decoded video frame.
//
// The engine never owns or copies the caller's pixels: the GStreamer element fills a FrameView from a
// mapped GstVideoFrame (plane pointers + strides), tests and tools from plain arrays.
#pragma once

#include <cstdint>

namespace emsync {
namespace scene {

enum class PixelLayout {
  kGray,           // one 8-bit plane (GRAY8)
  kYuvPlanar,      // Y, U, V planes (I420, YV12, Y42B, Y444, ...); chroma subsampled by the shifts
  kYuvSemiPlanar,  // Y plane + one interleaved UV (or VU) plane (NV12, NV21, NV16, NV24)
  kPackedRgb,      // one plane of 3 or 4 bytes per pixel (RGB, BGR, RGBx, xRGB, RGBA, ...)
};

struct PlaneView {
  const std::uint8_t* data = nullptr;
  int stride = 0;  // bytes from one row to the next (may exceed the row's payload)
  int width = 0;   // pixels in one row of this plane
  int height = 0;  // rows
};

struct FrameView {
  PixelLayout layout = PixelLayout::kGray;
  int width = 0;  // luma (picture) size in pixels
  int height = 0;
  int n_planes = 0;
  PlaneView planes[3];
  // YUV: log2 of the chroma subsampling (I420: 1, 1; Y42B: 1, 0; Y444: 0, 0).
  int chroma_shift_x = 0;
  int chroma_shift_y = 0;
  // YUV: true when the plane order is Y, V, U (YV12) or the interleaved pair is V, U (NV21).
  bool swap_uv = false;
  // Packed RGB: bytes per pixel (3 or 4) and the byte offset of each colour inside a pixel.
  int bytes_per_pixel = 0;
  int r_offset = 0;
  int g_offset = 1;
  int b_offset = 2;

  // Number of payload bytes in one row of plane @p (what FFmpeg calls the plane's line size).
  int row_bytes(int p) const {
    switch (layout) {
      case PixelLayout::kPackedRgb:
        return planes[p].width * bytes_per_pixel;
      case PixelLayout::kYuvSemiPlanar:
        return p == 0 ? planes[0].width : planes[p].width * 2;
      default:
        return planes[p].width;
    }
  }
};

}  // namespace scene
}  // namespace emsync
