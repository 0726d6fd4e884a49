import XCTest
@testable import Relevance

/// Colormaps, heatmaps, the bitmap font and grid pictures: exact pixel values from the
/// formulas documented on each type.
final class PictureTests: XCTestCase {
  typealias RGB = (r: UInt8, g: UInt8, b: UInt8)

  func assertColor(_ c: RGB, _ expected: RGB, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(c == expected, "\(message) got \(c), expected \(expected)", file: file, line: line)
  }

  func luminance(_ c: RGB) -> Double { 0.299 * Double(c.r) + 0.587 * Double(c.g) + 0.114 * Double(c.b) }

  /// Pixels that differ between two pictures of the same size.
  func differences(_ a: RGBImage, _ b: RGBImage) -> [(x: Int, y: Int)] {
    precondition(a.width == b.width && a.height == b.height)
    var out: [(x: Int, y: Int)] = []
    a.pixels.withUnsafeBufferPointer { p in
      b.pixels.withUnsafeBufferPointer { q in
        for i in stride(from: 0, to: p.count, by: 3) where p[i] != q[i] || p[i + 1] != q[i + 1] || p[i + 2] != q[i + 2] {
          out.append((i / 3 % a.width, i / 3 / a.width))
        }
      }
    }
    return out
  }

  // MARK: - Colormaps

  func testColormapEndsAndCentres() {
    assertColor(Colormap.bwr.color(at: 0), (0, 0, 255))
    assertColor(Colormap.bwr.color(at: 0.5), (255, 255, 255))
    assertColor(Colormap.bwr.color(at: 1), (255, 0, 0))
    assertColor(Colormap.bwr.color(at: 0.25), (128, 128, 255), "halfway blue to white:")
    assertColor(Colormap.hot.color(at: 0), (0, 0, 0))
    assertColor(Colormap.hot.color(at: 1), (255, 255, 255))
    assertColor(Colormap.gray.color(at: 0.5), (128, 128, 128))
    assertColor(Colormap.seismic.color(at: 0.5), (255, 255, 255))
    assertColor(Colormap.bwr.color(at: -3), (0, 0, 255), "clamped below:")
    assertColor(Colormap.bwr.color(at: 7), (255, 0, 0), "clamped above:")
    assertColor(Colormap.bwr.color(at: .nan), (255, 255, 255), "NaN is the zero colour:")
    assertColor(Colormap.hot.color(at: .nan), (0, 0, 0), "NaN is the zero colour:")
    assertColor(Colormap.bwr.zeroColor, (255, 255, 255))
    assertColor(Colormap.hot.zeroColor, (0, 0, 0))
    XCTAssertEqual(Colormap.builtIn.filter(\.isDiverging).map(\.name), ["bwr", "seismic", "coolwarm"])
    XCTAssertEqual(Colormap.builtIn.filter { !$0.isDiverging }.map(\.name), ["hot", "inferno", "gray"])
    for map in Colormap.builtIn where map.isDiverging {
      let low = map.color(at: 0), high = map.color(at: 1)
      XCTAssertGreaterThan(low.b, low.r, "\(map.name) starts blue")
      XCTAssertGreaterThan(high.r, high.b, "\(map.name) ends red")
    }
  }

  func testSequentialMapsHaveIncreasingLuminance() {
    // hot and gray exactly; inferno, whose blue falls while red and green rise, up to the
    // rounding of each channel: blue may step down by one (0.114) before red or green step up.
    for (map, slack) in [(Colormap.hot, 0.0), (.gray, 0), (.inferno, 0.12)] {
      var previous = -1.0
      for i in 0...512 {
        let l = luminance(map.color(at: Double(i) / 512))
        XCTAssertGreaterThanOrEqual(l + slack, previous, "\(map.name) at \(i)/512")
        previous = l
      }
      XCTAssertGreaterThan(luminance(map.color(at: 1)) - luminance(map.color(at: 0)), 200, map.name)
    }
  }

  func testColormapByName() throws {
    XCTAssertEqual(try Colormap.named("BWR"), .bwr)
    XCTAssertEqual(try Colormap.named("grey"), .gray)
    XCTAssertEqual(try Colormap.named("inferno"), .inferno)
    XCTAssertThrowsError(try Colormap.named("jet")) { error in
      let text = "\(error)"
      XCTAssert(text.contains("jet"), text)
      for map in Colormap.builtIn { XCTAssert(text.contains(map.name), text) }
    }
  }

  // MARK: - Heatmaps

  func testSignedHeatmapSumsChannelsAndScalesByMaxAbs() throws {
    // Channel sums per pixel: 2, -1, 0.
    let r = Tensor(shape: [1, 3, 1, 3], data: [1, -1, 0, 0.5, 0.5, 0, 0.5, -0.5, 0])
    let h = try Heatmap(r)
    XCTAssertTrue(h.isSigned)
    XCTAssertEqual(h.colormap, .bwr)
    XCTAssertEqual(h.maxAbs, 2)
    XCTAssertEqual(h.image.width, 3)
    XCTAssertEqual(h.image.height, 1)
    assertColor(h.image[0, 0], (255, 0, 0), "+max|R| is red:")
    assertColor(h.image[1, 0], (128, 128, 255), "-max|R|/2 is t = 0.25:")
    assertColor(h.image[2, 0], (255, 255, 255), "0 is white:")

    let negated = try Heatmap(Tensor(shape: [3, 1, 3], data: r.data.map { -$0 }))
    assertColor(negated.image[0, 0], (0, 0, 255), "-max|R| is blue:")
    assertColor(negated.image[1, 0], (255, 128, 128))
    XCTAssertEqual(negated.maxAbs, 2)
  }

  func testNonNegativeMapsGetTheSequentialMap() throws {
    let h = try Heatmap(Tensor(shape: [1, 1, 1, 3], data: [0, 1, 4]))
    XCTAssertFalse(h.isSigned)
    XCTAssertEqual(h.colormap, .hot)
    XCTAssertEqual(h.maxAbs, 4)
    assertColor(h.image[0, 0], (0, 0, 0))
    assertColor(h.image[1, 0], (170, 0, 0), "t = 0.25 is 2/3 of the way to red:")
    assertColor(h.image[2, 0], (255, 255, 255))
  }

  func testScaleAndColormapChoices() throws {
    let signedData = Tensor(shape: [1, 1, 2], data: [-1, 2])
    // A sequential colormap asks for the positive scale: negative relevance shows as 0.
    let hot = try Heatmap(signedData, style: HeatmapStyle(colormap: .hot))
    XCTAssertFalse(hot.isSigned)
    assertColor(hot.image[0, 0], (0, 0, 0))
    assertColor(hot.image[1, 0], (255, 255, 255))
    // A diverging colormap on non-negative data: the signed scale, 0 at the centre.
    let bwr = try Heatmap(Tensor(shape: [1, 1, 2], data: [0, 3]), style: HeatmapStyle(colormap: .bwr))
    XCTAssertTrue(bwr.isSigned)
    assertColor(bwr.image[0, 0], (255, 255, 255))
    assertColor(bwr.image[1, 0], (255, 0, 0))
    // Forced positive scale with the default map.
    let forced = try Heatmap(signedData, style: HeatmapStyle(scale: .positive))
    XCTAssertEqual(forced.colormap, .hot)
    XCTAssertEqual(forced.maxAbs, 2)
    // Forced signed scale on non-negative data.
    let signed = try Heatmap(Tensor(shape: [1, 1, 2], data: [0, 3]), style: HeatmapStyle(scale: .signed))
    XCTAssertEqual(signed.colormap, .bwr)
    assertColor(signed.image[0, 0], (255, 255, 255))
  }

  func testAllZeroMapIsTheZeroColour() throws {
    let zeros = Tensor(zeros: [3, 4, 5])
    let auto = try Heatmap(zeros)
    XCTAssertEqual(auto.maxAbs, 0)
    XCTAssertEqual(auto.colormap, .hot, "min ≥ 0 picks the sequential map")
    XCTAssertEqual(auto.image, RGBImage(width: 5, height: 4, fill: (0, 0, 0)))
    let signed = try Heatmap(zeros, style: HeatmapStyle(scale: .signed))
    XCTAssertEqual(signed.image, RGBImage(width: 5, height: 4, fill: (255, 255, 255)))
  }

  func testNaNAndInfinityCountAsZero() throws {
    let h = try Heatmap(Tensor(shape: [1, 1, 5], data: [.nan, .infinity, -.infinity, -1, 0.5]))
    XCTAssertTrue(h.isSigned)
    XCTAssertEqual(h.maxAbs, 1, "non-finite values do not enter the scale")
    assertColor(h.image[0, 0], (255, 255, 255))
    assertColor(h.image[1, 0], (255, 255, 255))
    assertColor(h.image[2, 0], (255, 255, 255))
    assertColor(h.image[3, 0], (0, 0, 255))
    assertColor(h.image[4, 0], (255, 128, 128))
    let allNaN = try Heatmap(Tensor(shape: [1, 2, 2], data: [.nan, .nan, .nan, .nan]))
    XCTAssertEqual(allNaN.maxAbs, 0)
    XCTAssertEqual(allNaN.image, RGBImage(width: 2, height: 2, fill: (0, 0, 0)))
  }

  func testOverlayBlendsWithTheImageLuminance() throws {
    var photo = RGBImage(width: 2, height: 1)
    photo[0, 0] = (100, 150, 200)  // luminance 29.9 + 88.05 + 22.8 = 140.75 → 141
    photo[1, 0] = (0, 0, 0)
    let map = Tensor(shape: [1, 1, 2], data: [1, -1])
    let h = try Heatmap(map, overlay: photo)
    // 0.6·255 + 0.4·141 = 209.4, 0.6·0 + 0.4·141 = 56.4
    assertColor(h.image[0, 0], (209, 56, 56))
    assertColor(h.image[1, 0], (0, 0, 153))
    let half = try Heatmap(map, style: HeatmapStyle(overlayAlpha: 0.5), overlay: photo)
    assertColor(half.image[0, 0], (198, 71, 71))  // 127.5 + 70.5, 0 + 70.5 (rounded away from zero)
    let opaque = try Heatmap(map, style: HeatmapStyle(overlayAlpha: 1), overlay: photo)
    XCTAssertEqual(opaque.image, try Heatmap(map).image)

    XCTAssertThrowsError(try Heatmap(map, overlay: RGBImage(width: 3, height: 1)))
    XCTAssertThrowsError(try Heatmap(map, style: HeatmapStyle(overlayAlpha: 1.5), overlay: photo))
  }

  func testUpscalingRepeatsPixels() throws {
    let map = Tensor(shape: [1, 2, 3], data: [1, -1, 0, 0.5, -0.5, 0.25])
    let small = try Heatmap(map).image
    let big = try Heatmap(map, style: HeatmapStyle(upscale: 3)).image
    XCTAssertEqual(big.width, 9)
    XCTAssertEqual(big.height, 6)
    for y in 0..<6 { for x in 0..<9 { assertColor(big[x, y], small[x / 3, y / 3], "(\(x), \(y))") } }
    XCTAssertThrowsError(try Heatmap(map, style: HeatmapStyle(upscale: 0)))
  }

  func testNHWCEqualsNCHWTransposed() throws {
    let (c, h, w) = (3, 4, 5)
    var rng = SystemRandomNumberGenerator()
    let nchw = (0..<(c * h * w)).map { _ in Float.random(in: -1...1, using: &rng) }
    var nhwc = [Float](repeating: 0, count: nchw.count)
    for ch in 0..<c { for y in 0..<h { for x in 0..<w { nhwc[(y * w + x) * c + ch] = nchw[(ch * h + y) * w + x] } } }
    let a = try RelevanceMap(Tensor(shape: [1, c, h, w], data: nchw))
    let b = try RelevanceMap(Tensor(shape: [1, h, w, c], data: nhwc), layout: .nhwc)
    let b3 = try RelevanceMap(Tensor(shape: [h, w, c], data: nhwc), layout: .nhwc)
    XCTAssertEqual(a, b)
    XCTAssertEqual(a, b3)
    XCTAssertEqual(a.width, w)
    XCTAssertEqual(a.height, h)
    XCTAssertEqual(a[2, 1], nchw[(0 * h + 1) * w + 2] + nchw[(1 * h + 1) * w + 2] + nchw[(2 * h + 1) * w + 2])
    XCTAssertEqual(try Heatmap(Tensor(shape: [c, h, w], data: nchw)).image,
                   try Heatmap(Tensor(shape: [h, w, c], data: nhwc), layout: .nhwc).image)
  }

  func testRelevanceMapShapes() throws {
    let batch = Tensor(shape: [2, 1, 1, 2], data: [1, 2, 3, 4])
    XCTAssertEqual(try RelevanceMap.maps(batch).map(\.values), [[1, 2], [3, 4]])
    XCTAssertThrowsError(try RelevanceMap(batch), "one map, not a batch")
    XCTAssertThrowsError(try RelevanceMap(Tensor(zeros: [1, 1, 1, 2, 2])))
    XCTAssertThrowsError(try RelevanceMap(Tensor(zeros: [4])))
    XCTAssertEqual(try RelevanceMap(Tensor(shape: [1, 2], data: [5, 6])).values, [5, 6])
  }

  func testCompactText() {
    XCTAssertEqual(Heatmap.compactText(0), "0")
    XCTAssertEqual(Heatmap.compactText(0.0321), "0.0321")
    XCTAssertEqual(Heatmap.compactText(12.5), "12.5")
    XCTAssertEqual(Heatmap.compactText(3.2e-4), "3.2e-4")
    XCTAssertEqual(Heatmap.compactText(-12345), "-1.2e4")
    XCTAssertEqual(Heatmap.compactText(9.99e-5), "1.0e-4")
    XCTAssertEqual(Heatmap.compactText(.nan), "nan")
  }

  // MARK: - Colour bar

  func testColorbar() {
    let signed = Colorbar(colormap: .bwr, isSigned: true, maxAbs: 0.0321)
    XCTAssertEqual(signed.labels.left, "-0.0321")
    XCTAssertEqual(signed.labels.centre, "0")
    XCTAssertEqual(signed.labels.right, "+0.0321")
    let positive = Colorbar(colormap: .hot, isSigned: false)
    XCTAssertEqual(positive.labels.left, "0")
    XCTAssertNil(positive.labels.centre)
    XCTAssertEqual(positive.labels.right, "max")

    let bar = signed.render(width: 101, barHeight: 10, textScale: 2)
    XCTAssertEqual(bar.width, 101)
    XCTAssertEqual(bar.height, Colorbar.height(barHeight: 10, textScale: 2))
    XCTAssertEqual(bar.height, 10 + 4 + 18)
    assertColor(bar[1, 5], Colormap.bwr.color(at: 0.01))
    assertColor(bar[50, 5], (255, 255, 255))
    assertColor(bar[99, 5], Colormap.bwr.color(at: 0.99))
    let labelRows = (14..<bar.height).flatMap { y in (0..<101).map { bar[$0, y] } }
    XCTAssert(labelRows.contains { $0 == (0, 0, 0) }, "labels are drawn")
  }

  // MARK: - Font

  func testGlyphsAreDistinctAndNonEmpty() {
    let characters = (32...126).map { Character(UnicodeScalar(UInt8($0))) }
    let glyphs = characters.map(BitmapFont.glyph)
    for (c, g) in zip(characters, glyphs) {
      XCTAssertEqual(g.count, BitmapFont.cellHeight, "\(c)")
      XCTAssert(g.allSatisfy { $0 < 32 }, "\(c) fits in 5 columns")
      XCTAssertEqual(g.allSatisfy { $0 == 0 }, c == " ", "only space is empty: \(c)")
    }
    for i in glyphs.indices {
      for j in glyphs.indices where j > i {
        XCTAssertNotEqual(glyphs[i], glyphs[j], "\(characters[i]) and \(characters[j]) look the same")
      }
    }
    XCTAssertEqual(BitmapFont.glyph("é"), BitmapFont.glyph("?"))
    XCTAssertEqual(BitmapFont.glyph("\n"), BitmapFont.glyph("?"))
    XCTAssertEqual(BitmapFont.glyph("→"), BitmapFont.glyph("?"))
  }

  func testDrawMarksTheGlyphBits() {
    for scale in 1...3 {
      var image = RGBImage.filled(width: 40, height: 40)
      image.draw(text: "g", x: 3, y: 4, color: (0, 0, 0), scale: scale)
      let rows = BitmapFont.glyph("g")
      for y in 0..<40 {
        for x in 0..<40 {
          let (col, row) = ((x - 3), (y - 4))
          var set = false
          if col >= 0, row >= 0, col / scale < 5, row / scale < 9 {
            set = rows[row / scale] & (0x10 >> UInt8(col / scale)) != 0
          }
          assertColor(image[x, y], set ? (0, 0, 0) : (255, 255, 255), "scale \(scale) (\(x), \(y))")
        }
      }
    }
  }

  func testTextWidthMatchesWhatDrawMarks() {
    XCTAssertEqual(BitmapFont.textWidth(""), 0)
    XCTAssertEqual(BitmapFont.textWidth("abc", scale: 2), (18 - 1) * 2)
    for text in ["H", "zebra 0.83", "max|R| 3.2e-2", "lrp", "clrp2 [x] (y) 50% a_b", "Wé"] {
      for scale in 1...3 {
        let (x0, y0) = (5, 7)
        var image = RGBImage.filled(width: 400, height: 60)
        image.draw(text: text, x: x0, y: y0, scale: scale)
        var xs: [Int] = [], ys: [Int] = []
        for y in 0..<60 { for x in 0..<400 where image[x, y] != (255, 255, 255) { xs.append(x); ys.append(y) } }
        let width = BitmapFont.textWidth(text, scale: scale)
        XCTAssertGreaterThanOrEqual(xs.min()!, x0, text)
        XCTAssertLessThan(xs.max()!, x0 + width, "\(text) at scale \(scale)")
        XCTAssertGreaterThanOrEqual(ys.min()!, y0, text)
        XCTAssertLessThan(ys.max()!, y0 + BitmapFont.lineHeight(scale: scale), text)
      }
    }
    // Glyphs touching both edges of their box: the width is exact.
    var image = RGBImage.filled(width: 100, height: 20)
    image.draw(text: "HM", x: 10, y: 2)
    let marked = (0..<100).filter { x in (0..<20).contains { image[x, $0] != (255, 255, 255) } }
    XCTAssertEqual(marked.first, 10)
    XCTAssertEqual(marked.last, 10 + BitmapFont.textWidth("HM") - 1)
  }

  func testTruncation() {
    XCTAssertEqual(BitmapFont.truncated("zebra", toWidth: 100), "zebra")
    XCTAssertEqual(BitmapFont.truncated("zebra", toWidth: 29), "zebra")  // 5·6 − 1
    XCTAssertEqual(BitmapFont.truncated("zebra", toWidth: 28), "z...")
    let long = "a very long class name, longer than any cell"
    for scale in 1...3 {
      for width in 0...300 {
        let cut = BitmapFont.truncated(long, toWidth: width, scale: scale)
        XCTAssertLessThanOrEqual(BitmapFont.textWidth(cut, scale: scale), width, "\(width) at \(scale): \(cut)")
        if cut != long {
          XCTAssert(cut.allSatisfy { $0 == "." } || cut.hasSuffix("..."), cut)
          XCTAssertGreaterThan(BitmapFont.textWidth(cut + "x", scale: scale), width, "the longest that fits")
        }
      }
    }
  }

  // MARK: - Grid picture

  func solid(_ width: Int, _ height: Int, _ color: RGB, corner: RGB) -> RGBImage {
    var image = RGBImage.filled(width: width, height: height, color: color)
    image[0, 0] = corner
    return image
  }

  /// 2 rows × 3 targets of 64 × 64 cells with everything switched on.
  func fullGrid() -> GridPicture {
    var grid = GridPicture(title: "vgg16_small - cat.png")
    grid.leadingImage = solid(64, 64, (0, 200, 0), corner: (1, 2, 3))
    grid.columnTitles = ["zebra 0.83", "elephant 0.10", "7"]
    grid.rowLabels = ["lrp", "clrp1"]
    grid.cells = (0..<2).map { i in
      (0..<3).map { j -> RGBImage? in
        let fill: RGB = (UInt8(40 * i + 10), UInt8(30 * j + 10), 250)
        let corner: RGB = (250, 0, UInt8(i * 3 + j))
        return solid(64, 64, fill, corner: corner)
      }
    }
    grid.captions = [["max|R| 3.2e-2", nil, "x"], [nil, nil, "y"]]
    grid.colorbar = Colorbar(colormap: .bwr, isSigned: true)
    return grid
  }

  func testGridSizeFollowsTheDocumentedFormula() {
    let grid = fullGrid()
    let l = grid.layout()
    // f = ⌈160/64⌉ = 3, W_c = H_c = 192, s = 192/96 = 2, s_c = 1, m = 12, g = 8,
    // L = width("clrp1" at 2) + g = 58 + 8, n = 4 columns, r = 2 rows,
    // T = 18 + 8, K = 18 + 4, C = 9 + 2, B = 8 + (10 + 2 + 9).
    XCTAssertEqual(l.upscale, 3)
    XCTAssertEqual(l.cellWidth, 192)
    XCTAssertEqual(l.textScale, 2)
    XCTAssertEqual(l.captionScale, 1)
    XCTAssertEqual(l.labelWidth, 66)
    XCTAssertEqual(l.width, 2 * 12 + 66 + 4 * 192 + 3 * 8)
    XCTAssertEqual(l.height, 2 * 12 + 26 + 22 + 2 * (192 + 11) + 8 + 29)
    let image = grid.render()
    XCTAssertEqual(image.width, 882)
    XCTAssertEqual(image.height, 515)

    // Neuron-style: no leading image, no text at all, explicit factor.
    var bare = GridPicture(title: "")
    bare.cells = [[solid(10, 5, (1, 1, 1), corner: (2, 2, 2))], [nil, nil]]
    bare.upscale = 2
    let b = bare.layout()
    XCTAssertEqual(b.columns, 2)
    XCTAssertEqual(b.rows, 2)
    XCTAssertEqual(b.width, 2 * 12 + 2 * 20 + 8)
    XCTAssertEqual(b.height, 2 * 12 + 2 * 10 + 8)
    XCTAssertEqual(bare.render().width, b.width)
    XCTAssertEqual(b.cellOrigin(row: 1, column: 1).x, 12 + 28)
    XCTAssertEqual(b.cellOrigin(row: 1, column: 1).y, 12 + 18)

    // 224-pixel inputs are not upscaled.
    var large = GridPicture(title: "t")
    large.cells = [[RGBImage(width: 224, height: 224)]]
    XCTAssertEqual(large.layout().upscale, 1)
  }

  func testCellsLandAtTheDocumentedOffsets() {
    let grid = fullGrid()
    let l = grid.layout()
    let image = grid.render()
    let y0 = 12 + 26 + 22
    XCTAssertEqual(l.gridTop, y0)
    XCTAssertEqual(l.leadingOrigin.x, 12)
    XCTAssertEqual(l.leadingOrigin.y, y0)
    XCTAssertEqual(l.labelX, 12 + 192 + 8)
    for i in 0..<2 {
      for j in 0..<3 {
        let o = l.cellOrigin(row: i, column: j)
        XCTAssertEqual(o.x, 12 + 200 + 66 + j * 200)
        XCTAssertEqual(o.y, y0 + i * (192 + 11 + 8))
        let fill: RGB = (UInt8(40 * i + 10), UInt8(30 * j + 10), 250)
        let corner: RGB = (250, 0, UInt8(i * 3 + j))
        for (dx, dy) in [(0, 0), (2, 2), (2, 0), (0, 2)] { assertColor(image[o.x + dx, o.y + dy], corner, "corner block \(i),\(j)") }
        assertColor(image[o.x + 3, o.y], fill)
        assertColor(image[o.x + 191, o.y + 191], fill)
        assertColor(image[o.x - 1, o.y + 100], (255, 255, 255), "gap left of cell \(i),\(j)")
        assertColor(image[o.x + 192, o.y + 100], (255, 255, 255), "gap right of cell \(i),\(j)")
      }
    }
    assertColor(image[12, y0], (1, 2, 3))
    assertColor(image[12 + 191, y0 + 191], (0, 200, 0))
    assertColor(image[11, y0 + 5], (255, 255, 255))
    // Only the first row holds the leading image.
    assertColor(image[12 + 50, y0 + 192 + 11 + 8 + 50], (255, 255, 255))
  }

  /// The pixels that change when `edit` adds one text to `fullGrid()`.
  func changedPixels(_ edit: (inout GridPicture) -> Void, removing remove: (inout GridPicture) -> Void) -> [(x: Int, y: Int)] {
    var with = fullGrid(), without = fullGrid()
    edit(&with)
    remove(&without)
    return differences(with.render(), without.render())
  }

  func assertInside(_ points: [(x: Int, y: Int)], x: Range<Int>, y: Range<Int>, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(points.isEmpty, "\(what) changes no pixel", file: file, line: line)
    for p in points where !(x.contains(p.x) && y.contains(p.y)) {
      XCTFail("\(what) drew at (\(p.x), \(p.y)) outside x \(x), y \(y)", file: file, line: line)
      return
    }
  }

  func testLabelsDrawInTheirAreas() {
    let l = fullGrid().layout()  // texts never change the geometry below when kept non-empty
    let s = l.textScale
    let title = changedPixels({ $0.title = "another title" }, removing: { $0.title = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" })
    assertInside(title, x: 12..<(l.width - 12), y: 12..<(12 + 9 * s), "title")

    let c1 = l.cellOrigin(row: 0, column: 1)
    let columnTitle = changedPixels({ $0.columnTitles[1] = "zebra 0.83" }, removing: { $0.columnTitles[1] = "." })
    assertInside(columnTitle, x: c1.x..<(c1.x + 192), y: (l.gridTop - l.columnTitleHeight)..<l.gridTop, "column title")

    let r1 = l.cellOrigin(row: 1, column: 0)
    let rowLabel = changedPixels({ $0.rowLabels[1] = "clrp2" }, removing: { $0.rowLabels[1] = "clrp1" })
    assertInside(rowLabel, x: l.labelX..<(l.labelX + l.labelWidth - l.spacing), y: r1.y..<(r1.y + 192), "row label")

    let c21 = l.cellOrigin(row: 1, column: 2)
    let caption = changedPixels({ $0.captions[1][2] = "max|R| 1.5e3" }, removing: { $0.captions[1][2] = "y" })
    assertInside(caption, x: c21.x..<(c21.x + 192), y: (c21.y + 192)..<(c21.y + 192 + l.captionHeight), "caption")

    let leading = changedPixels({ $0.leadingTitle = "input image" }, removing: { $0.leadingTitle = "i" })
    assertInside(leading, x: 12..<(12 + 192), y: (l.gridTop - l.columnTitleHeight)..<l.gridTop, "leading title")

    let bar = changedPixels({ _ in }, removing: { $0.colorbar = Colorbar(colormap: .hot, isSigned: false) })
    let cb = l.colorbarOrigin
    assertInside(bar, x: cb.x..<(cb.x + 192), y: cb.y..<(l.height - 12), "colour bar")
  }

  func testLongTextIsCutToItsCell() {
    let l = fullGrid().layout()
    let long = String(repeating: "very long class name ", count: 10)
    let c0 = l.cellOrigin(row: 0, column: 0)
    let columnTitle = changedPixels({ $0.columnTitles[0] = long }, removing: { $0.columnTitles[0] = "z" })
    assertInside(columnTitle, x: c0.x..<(c0.x + 192), y: (l.gridTop - l.columnTitleHeight)..<l.gridTop, "long column title")
    let caption = changedPixels({ $0.captions[0][0] = long }, removing: { $0.captions[0][0] = "z" })
    assertInside(caption, x: c0.x..<(c0.x + 192), y: (c0.y + 192)..<(c0.y + 192 + l.captionHeight), "long caption")
    let title = changedPixels({ $0.title = long + long }, removing: { $0.title = "t" })
    assertInside(title, x: 12..<(l.width - 12), y: 12..<(12 + 9 * l.textScale), "long title")

    // A row label longer than a cell: the label column is one cell wide and the text stays in it.
    var grid = fullGrid()
    grid.rowLabels = [long, long]
    let wide = grid.layout()
    XCTAssertEqual(wide.labelWidth, 192 + 8)
    var shortLabel = grid
    shortLabel.rowLabels[1] = "x"
    let r1 = wide.cellOrigin(row: 1, column: 0)
    assertInside(differences(grid.render(), shortLabel.render()),
                 x: wide.labelX..<(wide.labelX + 192), y: r1.y..<(r1.y + 192), "long row label")
  }
}
