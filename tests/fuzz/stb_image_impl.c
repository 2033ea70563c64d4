/* stb_image compiled into the libFuzzer harnesses (SACCADE_LIBFUZZER builds
 * only), so the decoder gets coverage instrumentation and sanitizer checks.
 * Its definitions take precedence over those of Debian's libstb.so, which the
 * library links otherwise. No STBI_ options: saccade uses none, and Debian
 * builds libstb with none. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
