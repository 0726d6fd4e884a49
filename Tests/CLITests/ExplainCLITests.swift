import Foundation
import XCTest
import Relevance

/// `clrp explain` as a user runs it: the files it writes equal the library's maps, JSON is
/// complete, bad input is one clear line with nothing written.
final class ExplainCLITests: XCTestCase {
  var directory = ""

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-explain-\(UUID())").path
  }

  override func tearDown() {
    try? FileManager.default.removeItem(atPath: directory)
  }

  func fixture(_ path: String) -> String { CLITests.fixture(path) }
  var model: String { fixture("models/vgg16_small.onnx") }

  func files() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() }

  func testOutputDirHoldsTheLibrarysMapsHeatmapsAndAGrid() throws {
    let image = fixture("images/jpeg_rgb.jpg")
    let run = try runCLRP(["explain", model, image, "--method", "lrp,clrp2", "--class", "3", "--class", "6", "--output-dir", directory])
    XCTAssertEqual(run.status, 0, run.err)
    XCTAssertEqual(files(), ["jpeg_rgb.clrp2.3.npy", "jpeg_rgb.clrp2.3.png", "jpeg_rgb.clrp2.6.npy", "jpeg_rgb.clrp2.6.png",
                             "jpeg_rgb.grid.png", "jpeg_rgb.lrp.3.npy", "jpeg_rgb.lrp.3.png", "jpeg_rgb.lrp.6.npy", "jpeg_rgb.lrp.6.png"])
    XCTAssertTrue(run.out.contains("grid -> \(directory)/jpeg_rgb.grid.png"), run.out)

    // The same explanation through the library.
    let explainer = Explainer(model: try Model(path: model), preprocessing: .imagenet)
    let input = try Preprocessing.imagenet.tensor(from: ImageFile.read(path: image), inputShape: explainer.inputShape(), source: image)
    let expected = try explainer.explain(input, methods: [.lrp, .clrp2], targets: .targets([.class(3), .class(6)]))
    // The binary runs with its own OpenBLAS kernels (see `useFastBLASKernels`), so values agree
    // to float32 rounding, not bit for bit: 1e-5 of max|R| (clrp2 maps, small differences of
    // large maps, on the scale of the class's lrp map).
    for map in expected.maps {
      let written = try NPY.read(path: "\(directory)/jpeg_rgb.\(map.method).\(map.target).npy")
      XCTAssertEqual(written.shape, map.relevance.shape)
      let lrp = expected.maps.first { $0.method == .lrp && $0.target == map.target }!
      let scale = lrp.relevance.data.map(abs).max()!
      let diff = zip(written.data, map.relevance.data).map { abs($0 - $1) }.max()!
      XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "\(map.method) \(map.target)")
      let picture = try ImageFile.read(path: "\(directory)/jpeg_rgb.\(map.method).\(map.target).png")
      let style = HeatmapStyle(scale: map.method.isContrastive ? .positive : .signed)
      XCTAssertTrue(try Heatmap(written, style: style).image == picture, "\(map.method) \(map.target): the png is the npy's heatmap")
    }
    let grid = try ImageFile.read(path: "\(directory)/jpeg_rgb.grid.png")
    XCTAssertGreaterThan(grid.width, 2 * 3 * 64)
    XCTAssertGreaterThan(grid.height, 2 * 3 * 64)
  }

  func testOneMapToOutputAndJSON() throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let npy = directory + "/map.npy", png = directory + "/map.png"
    let input = fixture("relevance/vgg16_small.input.npy")
    let run = try runCLRP(["explain", model, input, "--method", "clrp1", "--class", "1", "--output", npy, "--json"])
    XCTAssertEqual(run.status, 0, run.err)
    XCTAssertEqual(try NPY.read(path: npy).shape, [3, 64, 64])
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
    let inputs = try XCTUnwrap(object["inputs"] as? [[String: Any]])
    let top = try XCTUnwrap(inputs[0]["top"] as? [[String: Any]])
    XCTAssertEqual(top.count, 5)
    XCTAssertEqual(top[0]["class"] as? Int, 1)
    let maps = try XCTUnwrap(inputs[0]["maps"] as? [[String: Any]])
    XCTAssertEqual(maps.count, 1)
    XCTAssertEqual(maps[0]["method"] as? String, "clrp1")
    XCTAssertEqual(maps[0]["npy"] as? String, npy)
    for key in ["score", "relevance_sum", "signal_sum", "input_sum", "signals", "seconds"] { XCTAssertNotNil(maps[0][key], key) }
    XCTAssertNotNil(inputs[0]["forward_seconds"])

    let picture = try runCLRP(["explain", model, input, "--method", "lrp", "--class", "1", "--output", png, "--overlay"])
    XCTAssertEqual(picture.status, 0, picture.err)
    XCTAssertEqual(try ImageFile.read(path: png).width, 64)
    XCTAssertTrue(picture.out.contains("conservation 1.0000"), picture.out)
  }

  func testNeuronsAndLabels() throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let labels = directory + "/labels.txt"
    try (0..<10).map { "class \($0)" }.joined(separator: "\n").write(toFile: labels, atomically: true, encoding: .utf8)
    let classes = try runCLRP(["explain", model, fixture("relevance/vgg16_small.input.npy"), "--top", "1", "--labels", labels,
                                "--method", "lrp", "--output-dir", directory + "/out"])
    XCTAssertEqual(classes.status, 0, classes.err)
    XCTAssertTrue(classes.out.contains("1 (class 1) 0.569"), classes.out)
    let neurons = try runCLRP(["explain", model, fixture("relevance/vgg16_small.input.npy"), "--method", "lrp,clrp2",
                                "--neurons", "/features/features.22/Relu:top:2", "--output-dir", directory + "/out"])
    XCTAssertEqual(neurons.status, 0, neurons.err)
    XCTAssertEqual(neurons.out.components(separatedBy: "-> ").count - 1, 5, neurons.out)  // 4 maps and the grid
    XCTAssertTrue(neurons.out.contains("/out/vgg16_small.input.lrp.features_features.22_Relu-"), neurons.out)
  }

  /// Each bad input: exit 1, one line on stderr naming the problem, nothing written.
  func testBadInputIsOneClearLineAndWritesNothing() throws {
    let npy = fixture("relevance/vgg16_small.input.npy")
    let cases: [([String], String)] = [
      (["explain", model, "no/such/image.png"], "no/such/image.png"),
      (["explain", model, fixture("images/garbage.png")], "garbage.png"),
      (["explain", model, fixture("images/truncated.jpg")], "truncated.jpg"),
      (["explain", model, fixture("reference/caffe_small.input.npy")], "has shape"),
      (["explain", model, npy, "--class", "10"], "class 10 is out of range"),
      (["explain", model, npy, "--neuron", "nope:1"], "no node or value named 'nope'"),
      (["explain", model, npy, "--method", "guided-backprop", "--rules", "paper"], "guided-backprop needs rule"),
      (["explain", model, npy, "--method", "clrp3"], "unknown method 'clrp3'"),
      (["explain", model, npy, "--method", "lrp,clrp1", "--output", "x.npy"], "--output writes one map"),
      (["explain", model, npy, "--class", "1", "--top", "2"], "give one kind of target"),
      (["explain", model, npy, "--cmap", "rainbow"], "rainbow"),
      (["explain", model, npy, fixture("reference/vgg16_small.input.npy")], "two inputs are named 'vgg16_small.input'"),
      (["explain", model, npy, "--method", "lrp", "--class", "1", "--output", "/no/such/dir/x.npy"], "/no/such/dir/x.npy"),
    ]
    for (arguments, part) in cases {
      let run = try runCLRP(arguments + (arguments.contains("--output") ? [] : ["--output-dir", directory]))
      XCTAssertEqual(run.status, 1, "\(arguments): \(run.out)")
      XCTAssertTrue(run.err.hasPrefix("error: ") && run.err.contains(part), "\(arguments): '\(run.err)' lacks '\(part)'")
      XCTAssertEqual(run.err.filter { $0 == "\n" }.count, 1, "\(arguments): one line, got '\(run.err)'")
      XCTAssertEqual(files(), [], "\(arguments) wrote something")
    }
  }

  func testHelpShowsEveryFlagWithExamples() throws {
    let run = try runCLRP(["explain", "--help"])
    XCTAssertEqual(run.status, 0)
    for flag in ["--method", "--rules", "--class", "--top", "--random-classes", "--from-top", "--seed", "--neuron", "--neurons",
                 "--preprocess", "--dual", "--normalize", "--output", "--output-dir", "--labels", "--cmap", "--overlay", "--json"] {
      XCTAssertTrue(run.out.contains(flag), flag)
    }
    XCTAssertTrue(run.out.contains("Examples:"))
    XCTAssertTrue(run.out.contains("clrp explain "))
  }
}
