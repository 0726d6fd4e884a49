/// A small bitmap font for labels on pictures: printable ASCII (32–126), each glyph 5 pixels
/// wide and 9 tall in a 6 × 9 cell (one blank column to the right). Rows 0–6 hold capitals
/// and digits (the baseline is under row 6), lowercase letters sit on rows 2–6, and rows 7–8
/// hold descenders (g j p q y , ;) and the underscore. Any other character is drawn as `?`.
///
/// Text is drawn at an integer `scale`: every font pixel becomes a scale × scale block.
/// A line of n characters is `textWidth` = (6n − 1)·scale pixels wide (no spacing after the
/// last glyph) and `lineHeight` = 9·scale pixels tall, measured from the top `y` it is drawn at.
public enum BitmapFont {
  public static let glyphWidth = 5
  public static let cellWidth = 6
  public static let cellHeight = 9

  /// The rows of `character`'s glyph, top to bottom, `cellHeight` of them; bit 4 (0x10) is the
  /// leftmost pixel, bit 0 the rightmost.
  public static func glyph(_ character: Character) -> [UInt8] {
    if let ascii = character.asciiValue, ascii >= 32 && ascii <= 126 { return glyphs[Int(ascii) - 32] }
    return glyphs[Int(Character("?").asciiValue!) - 32]
  }

  /// Width in pixels of `text` on one line at `scale`: (6n − 1)·scale, 0 for empty text.
  public static func textWidth(_ text: String, scale: Int = 1) -> Int {
    text.isEmpty ? 0 : (cellWidth * text.count - 1) * scale
  }

  /// Height of a line at `scale`: 9·scale.
  public static func lineHeight(scale: Int = 1) -> Int { cellHeight * scale }

  /// `text` cut so that it is at most `width` pixels wide at `scale`: unchanged when it fits,
  /// otherwise its longest prefix followed by "..." that fits (only as much of "..." as fits
  /// when even that is too wide).
  public static func truncated(_ text: String, toWidth width: Int, scale: Int = 1) -> String {
    if textWidth(text, scale: scale) <= width { return text }
    let maxCount = (width / scale + 1) / cellWidth  // characters that fit
    if maxCount <= 3 { return String(repeating: ".", count: max(maxCount, 0)) }
    return String(text.prefix(maxCount - 3)) + "..."
  }

  /// Draws `text` with its top-left corner at (x, y) in `color`; pixels outside the picture are
  /// skipped and the background is left as it is.
  public static func draw(_ text: String, on image: inout RGBImage, x: Int, y: Int,
                          color: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0), scale: Int = 1) {
    precondition(scale >= 1, "text scale must be at least 1, got \(scale)")
    var left = x
    for character in text {
      let rows = glyph(character)
      for (row, bits) in rows.enumerated() where bits != 0 {
        for column in 0..<glyphWidth where bits & (0x10 >> UInt8(column)) != 0 {
          image.fillRect(x: left + column * scale, y: y + row * scale, width: scale, height: scale, color: color)
        }
      }
      left += cellWidth * scale
    }
  }

  /// The glyphs of characters 32...126 in order, as rows of bits.
  private static let glyphs: [[UInt8]] = glyphPictures.map { picture in
    var rows = picture.split(separator: " ").map { row -> UInt8 in
      precondition(row.count == 5, "glyph rows are 5 pixels wide: \(picture)")
      return row.reduce(0) { $0 << 1 | ($1 == "#" ? 1 : 0) }
    }
    precondition(rows.count <= cellHeight, "glyphs are at most \(cellHeight) rows: \(picture)")
    rows += [UInt8](repeating: 0, count: cellHeight - rows.count)
    return rows
  }

  /// One picture per character 32...126: rows top to bottom separated by spaces, `#` set,
  /// `.` clear; rows left out at the bottom are clear.
  private static let glyphPictures: [String] = [
    ".....",                                                  // space
    "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",              // !
    ".#.#. .#.#. .#.#.",                                      // "
    ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",              // #
    "..#.. .#### #.#.. .###. ..#.# ####. ..#..",              // $
    "##... ##..# ...#. ..#.. .#... #..## ...##",              // %
    ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",              // &
    "..#.. ..#.. ..#..",                                      // '
    "...#. ..#.. .#... .#... .#... ..#.. ...#.",              // (
    ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",              // )
    "..... ..#.. #.#.# .###. #.#.# ..#.. .....",              // *
    "..... ..#.. ..#.. ##### ..#.. ..#.. .....",              // +
    "..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...",  // ,
    "..... ..... ..... .###. ..... ..... .....",              // -
    "..... ..... ..... ..... ..... .##.. .##..",              // .
    "....# ....# ...#. ..#.. .#... #.... #....",              // /
    ".###. #...# #..## #.#.# ##..# #...# .###.",              // 0
    "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",              // 1
    ".###. #...# ....# ...#. ..#.. .#... #####",              // 2
    "##### ...#. ..#.. ...#. ....# #...# .###.",              // 3
    "...#. ..##. .#.#. #..#. ##### ...#. ...#.",              // 4
    "##### #.... ####. ....# ....# #...# .###.",              // 5
    "..##. .#... #.... ####. #...# #...# .###.",              // 6
    "##### ....# ...#. ..#.. .#... .#... .#...",              // 7
    ".###. #...# #...# .###. #...# #...# .###.",              // 8
    ".###. #...# #...# .#### ....# ...#. .##..",              // 9
    "..... .##.. .##.. ..... .##.. .##.. .....",              // :
    "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...",        // ;
    "...#. ..#.. .#... #.... .#... ..#.. ...#.",              // <
    "..... ..... ##### ..... ##### ..... .....",              // =
    ".#... ..#.. ...#. ....# ...#. ..#.. .#...",              // >
    ".###. #...# ....# ...#. ..#.. ..... ..#..",              // ?
    ".###. #...# #.### #.#.# #.### #.... .###.",              // @
    ".###. #...# #...# ##### #...# #...# #...#",              // A
    "####. #...# #...# ####. #...# #...# ####.",              // B
    ".###. #...# #.... #.... #.... #...# .###.",              // C
    "###.. #..#. #...# #...# #...# #..#. ###..",              // D
    "##### #.... #.... ####. #.... #.... #####",              // E
    "##### #.... #.... ####. #.... #.... #....",              // F
    ".###. #...# #.... #.### #...# #...# .####",              // G
    "#...# #...# #...# ##### #...# #...# #...#",              // H
    ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",              // I
    "..### ...#. ...#. ...#. ...#. #..#. .##..",              // J
    "#...# #..#. #.#.. ##... #.#.. #..#. #...#",              // K
    "#.... #.... #.... #.... #.... #.... #####",              // L
    "#...# ##.## #.#.# #.#.# #...# #...# #...#",              // M
    "#...# #...# ##..# #.#.# #..## #...# #...#",              // N
    ".###. #...# #...# #...# #...# #...# .###.",              // O
    "####. #...# #...# ####. #.... #.... #....",              // P
    ".###. #...# #...# #...# #.#.# #..#. .##.#",              // Q
    "####. #...# #...# ####. #.#.. #..#. #...#",              // R
    ".#### #.... #.... .###. ....# ....# ####.",              // S
    "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",              // T
    "#...# #...# #...# #...# #...# #...# .###.",              // U
    "#...# #...# #...# #...# #...# .#.#. ..#..",              // V
    "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",              // W
    "#...# #...# .#.#. ..#.. .#.#. #...# #...#",              // X
    "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",              // Y
    "##### ....# ...#. ..#.. .#... #.... #####",              // Z
    ".###. .#... .#... .#... .#... .#... .###.",              // [
    "#.... #.... .#... ..#.. ...#. ....# ....#",              // backslash
    ".###. ...#. ...#. ...#. ...#. ...#. .###.",              // ]
    "..#.. .#.#. #...#",                                      // ^
    "..... ..... ..... ..... ..... ..... ..... #####",        // _
    ".#... ..#.. ...#.",                                      // `
    "..... ..... .###. ....# .#### #...# .####",              // a
    "#.... #.... #.##. ##..# #...# #...# ####.",              // b
    "..... ..... .###. #.... #.... #...# .###.",              // c
    "....# ....# .##.# #..## #...# #...# .####",              // d
    "..... ..... .###. #...# ##### #.... .###.",              // e
    "..##. .#..# .#... ###.. .#... .#... .#...",              // f
    "..... ..... .#### #...# #...# #...# .#### ....# .###.",  // g
    "#.... #.... #.##. ##..# #...# #...# #...#",              // h
    "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",              // i
    "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",  // j
    "#.... #.... #..#. #.#.. ##... #.#.. #..#.",              // k
    ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",              // l
    "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",              // m
    "..... ..... #.##. ##..# #...# #...# #...#",              // n
    "..... ..... .###. #...# #...# #...# .###.",              // o
    "..... ..... ####. #...# #...# #...# ####. #.... #....",  // p
    "..... ..... .#### #...# #...# #...# .#### ....# ....#",  // q
    "..... ..... #.##. ##..# #.... #.... #....",              // r
    "..... ..... .###. #.... .###. ....# ####.",              // s
    ".#... .#... ###.. .#... .#... .#..# ..##.",              // t
    "..... ..... #...# #...# #...# #..## .##.#",              // u
    "..... ..... #...# #...# #...# .#.#. ..#..",              // v
    "..... ..... #...# #...# #.#.# #.#.# .#.#.",              // w
    "..... ..... #...# .#.#. ..#.. .#.#. #...#",              // x
    "..... ..... #...# #...# #...# .#### ....# #...# .###.",  // y
    "..... ..... ##### ...#. ..#.. .#... #####",              // z
    "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.",              // {
    "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",              // |
    ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...",              // }
    "..... ..... .#... #.#.# ...#. ..... .....",              // ~
  ]
}

extension RGBImage {
  /// Draws `text` in the built-in `BitmapFont` with its top-left corner at (x, y).
  public mutating func draw(text: String, x: Int, y: Int, color: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0),
                            scale: Int = 1) {
    BitmapFont.draw(text, on: &self, x: x, y: y, color: color, scale: scale)
  }
}
