/* emsync — umbrella header for applications: metas, events and caps constants. */
#pragma once

#include "gst/emsynccaps.h"
#include "gst/emsyncevents.h"
#include "gst/emsyncmeta.h"
