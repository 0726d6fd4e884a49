#ifndef CLRP_IMAGE_CODECS_H
#define CLRP_IMAGE_CODECS_H

#include <stddef.h>

/* PNG and JPEG to 8-bit RGB and back, on libpng and libjpeg(-turbo).
 *
 * Every function returns IC_OK or an error code and never longjmps into its caller: the
 * libraries' error handlers jump back into the function that set them up, which frees what it
 * allocated and writes a one-line reason into `message` (always NUL-terminated when
 * message_size > 0). Warnings are never printed. */

enum {
  IC_OK = 0,
  IC_ERR_CORRUPT = 1,      /* not decodable: bad signature, CRC, Huffman data, ... */
  IC_ERR_TRUNCATED = 2,    /* the data ends before the image does */
  IC_ERR_UNSUPPORTED = 3,  /* a valid file this decoder does not handle */
  IC_ERR_TOO_LARGE = 4,    /* width * height above max_pixels, or overflow */
  IC_ERR_MEMORY = 5        /* allocation failed */
};

/* A decoded picture: height rows of width pixels, R G B interleaved, from malloc (free with
 * ic_free). */
typedef struct {
  int width;
  int height;
  unsigned char *pixels;
} ic_image;

/* Any PNG (every colour type and bit depth, interlaced or not) as 8-bit RGB: palettes and low
 * bit depths expanded, 16-bit samples reduced to their high byte, gray replicated, alpha and
 * tRNS transparency dropped (what PIL's Image.convert("RGB") does). Gamma and colour chunks are
 * ignored. */
int ic_decode_png(const unsigned char *data, size_t size, size_t max_pixels,
                  ic_image *out, char *message, size_t message_size);

/* Any baseline or progressive JPEG as 8-bit RGB: YCbCr/RGB and grayscale through libjpeg,
 * CMYK and YCCK converted like PIL (which takes every CMYK JPEG to be stored inverted, as
 * Photoshop writes them). A file that ends
 * early or whose entropy data breaks off ("premature end") is IC_ERR_TRUNCATED. EXIF orientation
 * is not applied here. */
int ic_decode_jpeg(const unsigned char *data, size_t size, size_t max_pixels,
                   ic_image *out, char *message, size_t message_size);

/* 8-bit RGB (width * height * 3 bytes) as a PNG in memory; *out from malloc (free with
 * ic_free). */
int ic_encode_png(const unsigned char *rgb, int width, int height,
                  unsigned char **out, size_t *out_size, char *message, size_t message_size);

void ic_free(void *pointer);

#endif
