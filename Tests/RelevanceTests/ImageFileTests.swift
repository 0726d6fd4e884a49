import Foundation
import XCTest
@testable import Relevance

/// Image decoding against PIL, broken files, PNG writing, PIL-compatible resizing and
/// image → model input preprocessing (fixtures from `Graphs/image_fixtures.py`).
final class ImageFileTests: XCTestCase {
  static let dir = Fixtures.path("images")
  func fixture(_ name: String) -> String { Self.dir + "/" + name }

  /// PIL's pixels for a fixture, as bytes.
  func expected(_ name: String) throws -> (height: Int, width: Int, pixels: [UInt8]) {
    let t = try NPY.read(path: fixture(name + ".npy"))
    XCTAssertEqual(t.shape.count, 3)
    return (t.shape[0], t.shape[1], t.data.map { UInt8($0) })
  }


  func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
  }

  func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-images-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir.path
  }

  // MARK: Decoding

  func testEveryPNGMatchesPIL() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Self.dir)
      .filter { $0.hasPrefix("png_") && $0.hasSuffix(".png") }.sorted()
    XCTAssertGreaterThanOrEqual(names.count, 20)
    for name in names {
      let stem = String(name.dropLast(4))
      let image = try ImageFile.read(path: fixture(name))
      let want = try expected(stem)
      XCTAssertEqual([image.height, image.width], [want.height, want.width], name)
      XCTAssertEqual(image.pixels, want.pixels, "\(name) differs from PIL by up to \(maxDifference(image.pixels, want.pixels))")
    }
  }

  /// JPEGs: PIL bundles libjpeg-turbo 3.x, we link the system's 2.1; both decode with the
  /// accurate integer IDCT (JDCT_ISLOW) and fancy upsampling, which libjpeg-turbo computes
  /// identically across versions, so the pixels are equal (measured: max difference 0). The
  /// tolerance of 2 levels only allows for a libjpeg build with another IDCT; the EXIF files
  /// check the shape and orientation exactly.
  func testEveryJPEGMatchesPIL() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Self.dir)
      .filter { $0.hasPrefix("jpeg_") && $0.hasSuffix(".jpg") }.sorted()
    XCTAssertGreaterThanOrEqual(names.count, 9)
    var worst = 0
    for name in names {
      let stem = String(name.dropLast(4))
      let image = try ImageFile.read(path: fixture(name))
      let want = try expected(stem)
      XCTAssertEqual([image.height, image.width], [want.height, want.width], name)
      let d = maxDifference(image.pixels, want.pixels)
      worst = max(worst, d)
      XCTAssertLessThanOrEqual(d, 2, name)
    }
    print("JPEG: largest difference from PIL \(worst) levels")
  }

  /// The EXIF orientations turn the 12×8 picture into an 8×12 one (6, 8) or keep it (3),
  /// and each orientation equals the plain decode rotated as PIL does.
  func testExifOrientation() throws {
    let plain = try ImageFile.read(path: fixture("jpeg_rgb.jpg"))
    XCTAssertEqual([plain.width, plain.height], [12, 8])
    for (name, w, h) in [("jpeg_exif3_ii", 12, 8), ("jpeg_exif6_ii", 8, 12), ("jpeg_exif6_mm", 8, 12), ("jpeg_exif8_mm", 8, 12)] {
      let image = try ImageFile.read(path: fixture(name + ".jpg"))
      XCTAssertEqual([image.width, image.height], [w, h], name)
    }
    // orientation 6 (rotate 90° clockwise): the top-left pixel comes from the bottom-left
    let six = try ImageFile.read(path: fixture("jpeg_exif6_ii.jpg"))
    XCTAssertTrue(six[0, 0] == plain[0, 7])
    // every orientation undone is a permutation of the same pixels
    var image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0) })
    image[2, 0] = (200, 201, 202)
    for o in 1...8 {
      let turned = ExifOrientation.apply(o, to: image)
      XCTAssertEqual(turned.pixels.sorted(), image.pixels.sorted())
      XCTAssertEqual(turned.width, o >= 5 ? 2 : 3)
    }
    XCTAssertTrue(ExifOrientation.apply(8, to: image)[0, 0] == (200, 201, 202))  // counter-clockwise: top-right to top-left
    XCTAssertEqual(ExifOrientation.read(jpeg: [0xFF, 0xD8, 0xFF, 0xE1, 0x00]), 1)     // cut-off segment
    XCTAssertEqual(ExifOrientation.orientation(tiff: Array("MM\u{0}*".utf8)), 1)
  }

  func testBrokenFilesAreErrorsNamingTheFile() throws {
    let cases: [(String, [String])] = [
      ("bad_crc.png", ["CRC"]),
      ("garbage.png", ["corrupt PNG"]),
      ("truncated.png", ["truncated PNG"]),
      ("truncated.jpg", ["truncated JPEG"]),
      ("not_an_image.png", ["supported image formats are PNG, JPEG", ".npy"]),
      ("does_not_exist.png", ["no such file"]),
      ("", ["is a directory"]),
    ]
    for (name, parts) in cases {
      let path = fixture(name)
      assertContains(message { try ImageFile.read(path: path) }, [path + ": "] + parts)
    }
    assertContains(message { try ImageFile.decode(Data(), name: "empty.jpg") }, ["empty.jpg: an empty file"])
    assertContains(message { try ImageFile.decode(Data("GIF89a....".utf8), name: "a.gif") }, ["a.gif: a GIF file"])
    assertContains(message { try ImageFile.decode(Data([0xFF, 0xD8, 0xFF, 0xE0]), name: "x.jpg") }, ["x.jpg: ", "JPEG"])
    let npy = NPY.encode(Tensor(zeros: [1, 3, 2, 2]))
    assertContains(message { try ImageFile.decode(npy, name: "in.npy") }, ["in.npy: a .npy tensor"])
    // every prefix of a PNG and a JPEG is an error or a picture, never a crash
    for name in ["png_rgb8_interlaced.png", "jpeg_progressive.jpg", "png_palette2_trns.png"] {
      let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
      for cut in stride(from: 0, to: data.count, by: 7) {
        _ = try? ImageFile.decode(data.prefix(cut), name: name)
      }
    }
  }

  func testTooLargeIsRefusedBeforeDecoding() throws {
    // a valid PNG header claiming 20000 × 20000 pixels (400 MP)
    var png = try Data(contentsOf: URL(fileURLWithPath: fixture("png_rgb8.png")))
    png.replaceSubrange(16..<24, with: [0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20])
    let crc = crc32(png[12..<29])
    png.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff)])
    assertContains(message { try ImageFile.decode(png, name: "huge.png") }, ["huge.png: ", "too large", "20000 x 20000"])
    // a JPEG whose frame header claims 65000 × 65000 pixels
    var jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("jpeg_rgb.jpg"))))
    let sof = try XCTUnwrap((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
    jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFD, 0xE8, 0xFD, 0xE8])
    assertContains(message { try ImageFile.decode(Data(jpeg), name: "huge.jpg") }, ["huge.jpg: ", "too large", "65000 x 65000"])
    // a wide but small PNG is fine: libpng's own 1,000,000-pixel row limit is lifted
    XCTAssertEqual(try ImageFile.decode(ImageFile.encodePNG(RGBImage(width: 1_200_000, height: 1)), name: "wide.png").width, 1_200_000)
  }

  func crc32(_ bytes: Data) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
      crc ^= UInt32(b)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  // MARK: Writing

  func testPNGRoundTrip() throws {
    var image = RGBImage(width: 13, height: 7)
    for i in image.pixels.indices { image.pixels[i] = UInt8((i * 37 + i / 5) & 0xff) }
    let data = try ImageFile.encodePNG(image)
    XCTAssertEqual(try ImageFile.decode(data, name: "round.png"), image)
    let dir = try temporaryDirectory()
    let path = dir + "/out.png"
    try ImageFile.writePNG(image, path: path)
    XCTAssertEqual(try ImageFile.read(path: path), image)
    try ImageFile.writePNG(RGBImage(width: 2, height: 2, fill: (1, 2, 3)), path: path)   // replaces
    XCTAssertEqual(try ImageFile.read(path: path), RGBImage(width: 2, height: 2, fill: (1, 2, 3)))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.png"])   // no temp files
    assertContains(message { try ImageFile.encodePNG(RGBImage(width: 0, height: 3, pixels: [])) }, ["empty"])
  }

  func testUnwritablePathsLeaveNothing() throws {
    let dir = try temporaryDirectory()
    let image = RGBImage(width: 2, height: 2)
    assertContains(message { try ImageFile.writePNG(image, path: dir + "/missing/out.png") },
                   [dir + "/missing/out.png: cannot be written", "does not exist"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing"))
    assertContains(message { try ImageFile.writePNG(image, path: dir) }, [dir + ": cannot be written: it is a directory"])
    try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
    assertContains(message { try writeAtomically(Data([1]), to: dir + "/file/out.png") }, ["is not a directory"])
    if getuid() != 0 {   // root ignores permissions
      let locked = dir + "/locked"
      try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false,
                                              attributes: [.posixPermissions: 0o500])
      assertContains(message { try writeAtomically(Data([1]), to: locked + "/out.png") }, ["permission denied"])
      XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: locked), [])
    }
    XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), Set(["file"] + (getuid() != 0 ? ["locked"] : [])))
    try writeAtomically(Data([1, 2, 3]), to: dir + "/data.bin")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/data.bin")), Data([1, 2, 3]))
  }

  // MARK: Resizing

  func testResizeMatchesPIL() throws {
    let source = try ImageFile.read(path: fixture("resize_source.png"))
    XCTAssertEqual([source.width, source.height], [40, 30])
    // Exact against Pillow 13 (which wrote the fixtures); Pillow 12 and older always resize
    // horizontally first, which moves some pixels by one level, hence the tolerance.
    var worst = 0
    for (w, h) in [(17, 13), (9, 30), (64, 48), (5, 4), (40, 30), (36, 8), (64, 12)] {
      let want = try expected("resize_\(w)x\(h)")
      let got = ImageResize.resize(source, width: w, height: h)
      XCTAssertEqual([got.height, got.width], [want.height, want.width])
      worst = max(worst, maxDifference(got.pixels, want.pixels))
      XCTAssertLessThanOrEqual(maxDifference(got.pixels, want.pixels), 1, "\(w)x\(h)")
    }
    print("resize: largest difference from PIL \(worst) levels")
    let crop = ImageResize.centerCrop(ImageResize.resize(source, width: 17, height: 13), width: 11, height: 11)
    let want = try expected("crop_17x13_to_11")
    XCTAssertEqual(crop.pixels, want.pixels)
  }

  /// A plain bilinear interpolation (2×2 taps, no antialiasing) misses PIL's 5×4 downscale by
  /// far more than one level: the antialiasing support is what the test above checks.
  func testPlainBilinearWouldFail() throws {
    let source = try ImageFile.read(path: fixture("resize_source.png"))
    let want = try expected("resize_5x4")
    var plain = [UInt8]()
    for y in 0..<4 {
      for x in 0..<5 {
        let sx = max(0, (Double(x) + 0.5) * 8 - 0.5), sy = max(0, (Double(y) + 0.5) * 7.5 - 0.5)
        let x0 = Int(sx), y0 = Int(sy), x1 = min(x0 + 1, 39), y1 = min(y0 + 1, 29)
        let fx = sx - Double(x0), fy = sy - Double(y0)
        for c in 0..<3 {
          func p(_ x: Int, _ y: Int) -> Double { Double(source.pixels[(y * 40 + x) * 3 + c]) }
          let v = (p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy
          plain.append(UInt8(v.rounded()))
        }
      }
    }
    XCTAssertGreaterThan(maxDifference(plain, want.pixels), 5)
  }

  func testTorchvisionSizes() {
    XCTAssertTrue(ImageResize.shorterSideSize(width: 40, height: 30, to: 27) == (36, 27))
    XCTAssertTrue(ImageResize.shorterSideSize(width: 300, height: 500, to: 256) == (256, 426))
    // Python's round(0.5) == 0: a crop of 1 from 2 starts at 0, of 1 from 4 at 2 (round(1.5))
    let row = RGBImage(width: 4, height: 1, pixels: (0..<12).map { UInt8($0) })
    XCTAssertEqual(ImageResize.centerCrop(row, width: 1, height: 1).pixels, [6, 7, 8])
    XCTAssertEqual(ImageResize.centerCrop(RGBImage(width: 2, height: 1, pixels: [0, 0, 0, 9, 9, 9]), width: 1, height: 1).pixels, [0, 0, 0])
  }

  // MARK: Preprocessing

  func testImagenetTensorMatchesTorchvision() throws {
    let source = try ImageFile.read(path: fixture("resize_source.png"))
    let want = try NPY.read(path: fixture("imagenet_24.npy"))
    XCTAssertTrue(Preprocessing.imagenet.geometry(height: 24, width: 24) == (27, nil, [24, 24]))
    XCTAssertTrue(Preprocessing.imagenet.geometry(height: 224, width: 224) == (256, nil, [224, 224]))
    let x = try Preprocessing.imagenet.tensor(from: source, inputShape: [1, 3, 24, 24], source: "s.png")
    XCTAssertEqual(x.shape, [1, 3, 24, 24])
    let tolerance = Float(1.0 / 255 / 0.225) + 1e-5
    XCTAssertLessThanOrEqual(zip(x.data, want.data).map { abs($0 - $1) }.max()!, tolerance)
    XCTAssertLessThanOrEqual(zip(x.data, want.data).map { abs($0 - $1) }.max()!, 1e-5)   // in fact exact

    var nhwc = Preprocessing.imagenet
    nhwc.layout = .nhwc
    let y = try nhwc.tensor(from: source, inputShape: [1, 24, 24, 3], source: "s.png")
    for c in 0..<3 {
      for i in 0..<(24 * 24) { XCTAssertEqual(y.data[i * 3 + c], x.data[c * 576 + i]) }
    }
    // the inverse gives the cropped picture back
    let shown = Preprocessing.imagenet.displayImage(from: x)
    let resized = ImageResize.centerCrop(ImageResize.resizeShorterSide(source, to: 27), width: 24, height: 24)
    XCTAssertEqual(shown, resized)
    XCTAssertEqual(nhwc.displayImage(from: y), resized)
  }

  func testUnitAndGrayInputs() throws {
    let image = RGBImage(width: 4, height: 2, pixels: (0..<24).map { UInt8($0 * 10) })
    let x = try Preprocessing.unit.tensor(from: image, inputShape: [1, 3, 2, 4], source: "a.png")
    XCTAssertEqual(x.data[0], 0)
    XCTAssertEqual(x.data[1], 30 / 255, accuracy: 1e-7)        // R of pixel 1
    XCTAssertEqual(x.data[8], 10 / 255, accuracy: 1e-7)        // G of pixel 0
    let stretched = try Preprocessing.unit.tensor(from: image, inputShape: [1, 3, 4, 8], source: "a.png")
    XCTAssertEqual(stretched.shape, [1, 3, 4, 8])
    let gray = try Preprocessing.unit.tensor(from: image, inputShape: [1, 1, 2, 4], source: "a.png")
    let l = (19595 * 30 + 38470 * 40 + 7471 * 50 + 0x8000) >> 16
    XCTAssertEqual(gray.data[1], Float(l) / 255, accuracy: 1e-7)
    let caffe = Preprocessing(name: "caffe", mean: [100, 110, 120], std: [1], range: 0...255, size: [2, 4])
    let z = try caffe.tensor(from: image, inputShape: [1, 3, 2, 4], source: "a.png")
    XCTAssertEqual(z.data[1], 30 - 100, accuracy: 1e-4)
    XCTAssertEqual(caffe.displayImage(from: z), image)
    XCTAssertEqual(Preprocessing.unit.displayImage(from: gray)[1, 0].g, UInt8(l))
  }

  func testPreprocessingErrors() throws {
    let image = RGBImage(width: 40, height: 30)
    let fixed = Preprocessing(name: "fixed", mean: [0], std: [1], resize: 256, crop: [224, 224])
    assertContains(message { try fixed.tensor(from: image, inputShape: [1, 3, 64, 64], source: "cat.jpg") },
                   ["cat.jpg: preprocessing 'fixed' gives 224×224", "the model takes 64×64", "size: [64, 64]"])
    let cropOnly = Preprocessing(name: "crop", mean: [0], std: [1], crop: [32, 32])
    assertContains(message { try cropOnly.tensor(from: image, inputShape: [1, 3, 32, 32], source: "cat.jpg") },
                   ["cat.jpg: the image is 30×40 pixels", "smaller than the 32×32 centre crop", "give `resize`"])
    let none = Preprocessing(name: "plain", mean: [0], std: [1])
    assertContains(message { try none.tensor(from: image, inputShape: [1, 3, 32, 32], source: "cat.jpg") },
                   ["gives 30×40", "takes 32×32"])
    XCTAssertEqual(try none.tensor(from: image, inputShape: [1, 3, 30, 40], source: "cat.jpg").shape, [1, 3, 30, 40])
    assertContains(message { try Preprocessing.unit.tensor(from: image, inputShape: [1, 32, 32, 3], source: "cat.jpg") },
                   ["the model takes 32 channels", "layout: NHWC"])
    assertContains(message { try Preprocessing.imagenet.tensor(from: image, inputShape: [1, 1, 32, 32], source: "cat.jpg") },
                   ["'imagenet' has 3 channels", "has 1"])
    assertContains(message { try Preprocessing.unit.tensor(from: image, inputShape: [2, 3, 32, 32], source: "cat.jpg") },
                   ["batch-1", "[2, 3, 32, 32]"])
  }

  func testGeometryKeys() throws {
    let p = try Preprocessing(yaml: "mean: 0.5\nstd: 0.5\nresize: 256\ncrop: 224\n", source: "p.yaml")
    XCTAssertEqual(p.resize, 256)
    XCTAssertEqual(p.crop, [224, 224])
    XCTAssertNil(p.size)
    XCTAssertEqual(p.fit, .none)
    let q = try Preprocessing(yaml: "mean: 0\nstd: 1\nsize: [32, 48]\ncrop: [30, 40]\n", source: "q.yaml")
    XCTAssertEqual(q.size, [32, 48])
    XCTAssertEqual(q.crop, [30, 40])
    let r = try Preprocessing(yaml: "mean: 0\nstd: 1\nsize: input\n", source: "r.yaml")
    XCTAssertEqual(r.fit, .stretch)
    XCTAssertTrue(r.geometry(height: 5, width: 7) == (nil, [5, 7], nil))
    let cases: [(String, String)] = [
      ("resize: 0", "`resize` must be one number"),
      ("resize: 12.5", "in whole pixels from 1 to 16384"),
      ("resize: 100000", "in whole pixels from 1 to 16384"),
      ("resize: [1, 2]", "`resize` must be one number"),
      ("resize: big", "`resize` must be one whole number"),
      ("size: 224", "`size` must be [height, width]"),
      ("size: [224, -1]", "`size` must be [height, width]"),
      ("size: everything", "`size` must be [height, width] or `input`"),
      ("crop: [1, 2, 3]", "`crop` must be a number or [height, width]"),
      ("crop: -5", "`crop` must be a number or [height, width]"),
      ("resize: 256\nsize: [224, 224]", "not both"),
      ("resize: 256\nsize: input", "not both"),
    ]
    for (extra, expected) in cases {
      assertContains(message { try Preprocessing(yaml: "mean: 0\nstd: 1\n" + extra + "\n", source: "pre.yaml") },
                     ["pre.yaml: ", expected])
    }
  }
}
