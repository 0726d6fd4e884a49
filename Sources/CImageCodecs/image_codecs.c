/* PNG and JPEG codecs on libpng and libjpeg(-turbo); see include/image_codecs.h.
 *
 * Both libraries report fatal errors by calling an error handler that must not return. Ours
 * record the reason and longjmp back to the setjmp in the same C function that called into the
 * library; that function frees what it allocated and returns an error code. No jump ever
 * crosses a Swift frame. */

#include "image_codecs.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

static void set_message(char *message, size_t size, const char *format, ...) {
  if (message == NULL || size == 0) return;
  va_list args;
  va_start(args, format);
  vsnprintf(message, size, format, args);
  va_end(args);
}

void ic_free(void *pointer) { free(pointer); }

/* width * height <= max_pixels and the RGB buffer size fits in size_t. */
static int check_size(size_t width, size_t height, size_t max_pixels, char *message, size_t message_size) {
  if (width == 0 || height == 0) {
    set_message(message, message_size, "the image is empty (%zu x %zu pixels)", width, height);
    return IC_ERR_CORRUPT;
  }
  if (width > SIZE_MAX / height || width * height > max_pixels || width * height > SIZE_MAX / 4) {
    set_message(message, message_size,
                "the image is too large: %zu x %zu pixels, more than the limit of %zu megapixels",
                width, height, max_pixels / 1000000);
    return IC_ERR_TOO_LARGE;
  }
  return IC_OK;
}

/* ---------------------------------------------------------------- PNG */

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t position;
  int code;
  char *message;
  size_t message_size;
} png_reader;

static void png_on_error(png_structp png, png_const_charp text) {
  png_reader *reader = (png_reader *)png_get_error_ptr(png);
  if (reader->code == IC_OK) {
    reader->code = IC_ERR_CORRUPT;
    set_message(reader->message, reader->message_size, "corrupt PNG data: %s", text);
  }
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text) {
  (void)png;
  (void)text; /* recoverable problems (bad ancillary chunks, ...) are not reported */
}

static void png_read_memory(png_structp png, png_bytep out, size_t count) {
  png_reader *reader = (png_reader *)png_get_io_ptr(png);
  if (count > reader->size - reader->position) {
    reader->code = IC_ERR_TRUNCATED;
    set_message(reader->message, reader->message_size,
                "truncated PNG: the file ends after %zu bytes, before the image data does", reader->size);
    png_error(png, "truncated");
  }
  memcpy(out, reader->data + reader->position, count);
  reader->position += count;
}

int ic_decode_png(const unsigned char *data, size_t size, size_t max_pixels,
                  ic_image *out, char *message, size_t message_size) {
  out->width = out->height = 0;
  out->pixels = NULL;
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    set_message(message, message_size, "not a PNG file (bad signature)");
    return IC_ERR_CORRUPT;
  }
  png_reader reader = {data, size, 0, IC_OK, message, message_size};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_on_error, png_on_warning);
  if (png == NULL) {
    set_message(message, message_size, "out of memory");
    return IC_ERR_MEMORY;
  }
  png_infop info = png_create_info_struct(png);
  if (info == NULL) {
    png_destroy_read_struct(&png, NULL, NULL);
    set_message(message, message_size, "out of memory");
    return IC_ERR_MEMORY;
  }
  unsigned char *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free((void *)pixels);
    free((void *)rows);
    png_destroy_read_struct(&png, &info, NULL);
    return reader.code == IC_OK ? IC_ERR_CORRUPT : reader.code;
  }
  png_set_read_fn(png, &reader, png_read_memory);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff); /* our pixel limit below applies instead */
  png_read_info(png, info);

  png_uint_32 width, height;
  int bit_depth, color_type, interlace;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
  int code = check_size(width, height, max_pixels, message, message_size);
  if (code != IC_OK) {
    reader.code = code;
    png_longjmp(png, 1);
  }
  int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
  if ((color_type & PNG_COLOR_MASK_ALPHA) || has_trns) png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != (size_t)width * 3) {
    reader.code = IC_ERR_UNSUPPORTED;
    set_message(message, message_size,
                "unsupported PNG colour type %d with bit depth %d (it does not reduce to 8-bit RGB)",
                color_type, bit_depth);
    png_longjmp(png, 1);
  }
  pixels = (unsigned char *)malloc((size_t)width * height * 3);
  rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
  if (pixels == NULL || rows == NULL) {
    reader.code = IC_ERR_MEMORY;
    set_message(message, message_size, "out of memory for %u x %u pixels", (unsigned)width, (unsigned)height);
    png_longjmp(png, 1);
  }
  for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
  png_read_image(png, rows);
  /* Chunks after the image data (png_read_end) are not read: a file without IEND still decodes. */
  free((void *)rows);
  png_destroy_read_struct(&png, &info, NULL);
  out->width = (int)width;
  out->height = (int)height;
  out->pixels = pixels;
  return IC_OK;
}

typedef struct {
  unsigned char *data;
  size_t size;
  size_t capacity;
  int code;
  char *message;
  size_t message_size;
} png_writer;

static void png_write_on_error(png_structp png, png_const_charp text) {
  png_writer *writer = (png_writer *)png_get_error_ptr(png);
  if (writer->code == IC_OK) {
    writer->code = IC_ERR_CORRUPT;
    set_message(writer->message, writer->message_size, "PNG encoding failed: %s", text);
  }
  png_longjmp(png, 1);
}

static void png_write_memory(png_structp png, png_bytep bytes, size_t count) {
  png_writer *writer = (png_writer *)png_get_io_ptr(png);
  if (count > writer->capacity - writer->size) {
    size_t capacity = writer->capacity ? writer->capacity : 4096;
    while (count > capacity - writer->size) {
      if (capacity > SIZE_MAX / 2) capacity = SIZE_MAX; else capacity *= 2;
    }
    unsigned char *grown = (unsigned char *)realloc(writer->data, capacity);
    if (grown == NULL) {
      writer->code = IC_ERR_MEMORY;
      set_message(writer->message, writer->message_size, "out of memory while encoding a PNG");
      png_error(png, "out of memory");
    }
    writer->data = grown;
    writer->capacity = capacity;
  }
  memcpy(writer->data + writer->size, bytes, count);
  writer->size += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

int ic_encode_png(const unsigned char *rgb, int width, int height,
                  unsigned char **out, size_t *out_size, char *message, size_t message_size) {
  *out = NULL;
  *out_size = 0;
  if (width <= 0 || height <= 0 || width > 0x7fffffff / 3) {
    set_message(message, message_size, "cannot encode a %d x %d image as PNG", width, height);
    return IC_ERR_UNSUPPORTED;
  }
  png_writer writer = {NULL, 0, 0, IC_OK, message, message_size};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, png_write_on_error, png_on_warning);
  if (png == NULL) {
    set_message(message, message_size, "out of memory");
    return IC_ERR_MEMORY;
  }
  png_infop info = png_create_info_struct(png);
  if (info == NULL) {
    png_destroy_write_struct(&png, NULL);
    set_message(message, message_size, "out of memory");
    return IC_ERR_MEMORY;
  }
  if (setjmp(png_jmpbuf(png))) {
    free(writer.data);
    png_destroy_write_struct(&png, &info);
    return writer.code == IC_OK ? IC_ERR_CORRUPT : writer.code;
  }
  png_set_write_fn(png, &writer, png_write_memory, png_flush_memory);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, rgb + (size_t)y * width * 3);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  *out = writer.data;
  *out_size = writer.size;
  return IC_OK;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct {
  struct jpeg_error_mgr manager; /* first, so a j_common_ptr's err points at this struct */
  jmp_buf jump;
  int code;
  char *message;
  size_t message_size;
} jpeg_failure;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_failure *failure = (jpeg_failure *)cinfo->err;
  if (failure->code == IC_OK) {
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    int code = cinfo->err->msg_code;
    failure->code = code == JERR_OUT_OF_MEMORY ? IC_ERR_MEMORY
                  : code == JERR_INPUT_EMPTY ? IC_ERR_TRUNCATED : IC_ERR_CORRUPT;
    set_message(failure->message, failure->message_size,
                failure->code == IC_ERR_TRUNCATED ? "truncated JPEG: %s" : "corrupt JPEG data: %s", text);
  }
  longjmp(failure->jump, 1);
}

/* Warnings (msg_level < 0) are not printed. Data that ends early is an error: libjpeg would
 * fill the rest of the picture with grey. Other corrupt-data warnings (extraneous bytes before
 * a marker, ...) are tolerated as PIL does. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    if (failure->code == IC_OK) {
      failure->code = IC_ERR_TRUNCATED;
      set_message(failure->message, failure->message_size,
                  code == JWRN_JPEG_EOF ? "truncated JPEG: the file ends before the image data does"
                                        : "corrupt JPEG data: the image data breaks off early (premature end of data segment)");
    }
    longjmp(failure->jump, 1);
  }
  cinfo->err->num_warnings++;
}

static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }

/* round(a * b / 255) for a, b in 0...255, exactly as PIL computes it. */
static inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

int ic_decode_jpeg(const unsigned char *data, size_t size, size_t max_pixels,
                   ic_image *out, char *message, size_t message_size) {
  out->width = out->height = 0;
  out->pixels = NULL;
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
    set_message(message, message_size, "not a JPEG file (no start-of-image marker)");
    return IC_ERR_CORRUPT;
  }
  if (size > ULONG_MAX) {
    set_message(message, message_size, "the file is too large");
    return IC_ERR_TOO_LARGE;
  }
  struct jpeg_decompress_struct cinfo;
  jpeg_failure failure;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = jpeg_on_error;
  failure.manager.emit_message = jpeg_on_message;
  failure.manager.output_message = jpeg_on_output;
  failure.code = IC_OK;
  failure.message = message;
  failure.message_size = message_size;
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile row = NULL;
  if (setjmp(failure.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free((void *)pixels);
    free((void *)row);
    return failure.code == IC_OK ? IC_ERR_CORRUPT : failure.code;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  (void)jpeg_read_header(&cinfo, TRUE);
  int code = check_size(cinfo.image_width, cinfo.image_height, max_pixels, message, message_size);
  if (code != IC_OK) {
    failure.code = code;
    longjmp(failure.jump, 1);
  }
  int cmyk = 0;
  switch (cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE:
  case JCS_YCbCr:
  case JCS_RGB:
    cinfo.out_color_space = JCS_RGB;
    break;
  case JCS_CMYK:
  case JCS_YCCK:
    cinfo.out_color_space = JCS_CMYK; /* libjpeg turns YCCK into CMYK */
    cmyk = 1;
    break;
  default:
    failure.code = IC_ERR_UNSUPPORTED;
    set_message(message, message_size, "unsupported JPEG colour space (%d components)", cinfo.num_components);
    longjmp(failure.jump, 1);
  }
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  (void)jpeg_start_decompress(&cinfo);
  size_t width = cinfo.output_width, height = cinfo.output_height;
  code = check_size(width, height, max_pixels, message, message_size);
  if (code != IC_OK) {
    failure.code = code;
    longjmp(failure.jump, 1);
  }
  pixels = (unsigned char *)malloc(width * height * 3);
  if (cmyk) row = (unsigned char *)malloc(width * 4);
  if (pixels == NULL || (cmyk && row == NULL)) {
    failure.code = IC_ERR_MEMORY;
    set_message(message, message_size, "out of memory for %zu x %zu pixels", width, height);
    longjmp(failure.jump, 1);
  }
  /* Photoshop (which writes the Adobe marker) stores CMYK inverted. PIL assumes that polarity
   * for every CMYK JPEG, Adobe marker or not (its "CMYK;I" raw mode), and converts with
   * R = (255 - K) - round(C (255 - K) / 255); so do we. */
  const int inverted = 1;
  while (cinfo.output_scanline < height) {
    unsigned char *target = pixels + (size_t)cinfo.output_scanline * width * 3;
    JSAMPROW rows[1] = {cmyk ? (JSAMPROW)row : (JSAMPROW)target};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
      failure.code = IC_ERR_TRUNCATED;
      set_message(message, message_size, "truncated JPEG: the image data ends early");
      longjmp(failure.jump, 1);
    }
    if (cmyk) {
      for (size_t x = 0; x < width; x++) {
        int c = row[4 * x], m = row[4 * x + 1], y = row[4 * x + 2], k = row[4 * x + 3];
        if (inverted) {
          c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        int nk = 255 - k;
        target[3 * x] = (unsigned char)(nk - muldiv255(c, nk));
        target[3 * x + 1] = (unsigned char)(nk - muldiv255(m, nk));
        target[3 * x + 2] = (unsigned char)(nk - muldiv255(y, nk));
      }
    }
  }
  (void)jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free((void *)row);
  out->width = (int)width;
  out->height = (int)height;
  out->pixels = pixels;
  return IC_OK;
}
