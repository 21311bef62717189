/* Shared by the lifecycle tests and the soak: resident memory, a counting probe and the test inputs. */
#ifndef EMSYNC_TESTS_LIFECYCLE_COMMON_H
#define EMSYNC_TESTS_LIFECYCLE_COMMON_H

#include <gst/gst.h>
#include <stdio.h>
#include <unistd.h>

/* Resident set size of this process in MiB (/proc/self/statm). */
static inline double
lifecycle_rss_mb (void)
{
  FILE *f = fopen ("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (fscanf (f, "%ld %ld", &size, &resident) != 2)
      resident = 0;
    fclose (f);
  }
  return (double) resident * (double) sysconf (_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* The General MIDI SoundFont the tests use, or NULL when none is installed. */
static inline const gchar *
lifecycle_soundfont (void)
{
  static const gchar *const candidates[] = {
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
  };
  const gchar *env = g_getenv ("EMSYNC_SOUNDFONT");
  if (env && g_file_test (env, G_FILE_TEST_IS_REGULAR))
    return env;
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return candidates[i];
  return NULL;
}

#endif
