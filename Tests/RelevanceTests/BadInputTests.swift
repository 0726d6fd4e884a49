import Foundation
import XCTest
@testable import Relevance

/// Bad models and inputs: every one is a `ModelError` that names the file (and the node, where
/// one is at fault) and says what is wrong, never a crash. The models come from
/// `Graphs/bad_models.py`; corrupted variants of two fixtures are written to a temp folder.
final class BadInputTests: XCTestCase {
  // MARK: - Harness

  /// Loads the model, canonicalizes it for one image and runs it on seeded data: every stage
  /// a user goes through before relevance is computed.
  @discardableResult
  static func loadCanonicalizeRun(_ path: String) throws -> Tensor {
    let model = try Model(path: path)
    let graph = try model.canonical(inputShape: model.inputShape(batch: 1))
    let plan = try ForwardPlan(graph: graph)
    var rng = SeededRandom(seed: 1)
    let input = rng.tensor(graph.shapes[graph.input]!)
    let outputs = try plan.run(input)
    guard let output = outputs[graph.outputs[0]] else { throw ModelError(file: path, "test harness: no output") }
    return output
  }

  /// The `ModelError` that loading and running `path` raises; fails the test on success or on
  /// any other error.
  func modelError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> ModelError? {
    do {
      try Self.loadCanonicalizeRun(path)
      XCTFail("\(path) loaded and ran", file: file, line: line)
    } catch let error as ModelError {
      return error
    } catch {
      XCTFail("\(path): not a ModelError: \(error)", file: file, line: line)
    }
    return nil
  }

  /// Asserts that the bad fixture `name` fails with a message naming the file and holding `words`.
  func assertRejected(_ name: String, node: String? = nil, opType: String? = nil, _ words: [String],
                      file: StaticString = #filePath, line: UInt = #line) {
    let path = Fixtures.path("bad/\(name).onnx")
    guard let error = modelError(path, file: file, line: line) else { return }
    let text = error.description
    XCTAssertTrue(text.hasPrefix(path + ": "), "file not named first: \(text)", file: file, line: line)
    if let node {
      XCTAssertEqual(error.nodeName, node, text, file: file, line: line)
      XCTAssertTrue(text.contains("node '\(node)'"), text, file: file, line: line)
    }
    if let opType {
      XCTAssertEqual(error.opType, opType, text, file: file, line: line)
      XCTAssertTrue(text.contains("(\(opType))"), text, file: file, line: line)
    }
    for word in words {
      XCTAssertTrue(text.contains(word), "'\(word)' missing from: \(text)", file: file, line: line)
    }
  }

  // MARK: - Bad models

  func testUnsupportedOperator() {
    assertRejected("unsupported_op", node: "act1", opType: "Hardmax",
                   ["operator 'Hardmax' is not supported", "supported: ", "Conv", "MaxPool", "Relu"])
  }

  func testIntegerInput() {
    assertRejected("int_input", ["input 'ids'", "INT64", "float32"])
  }

  func testConvWeightDoesNotMatchInputChannels() {
    assertRejected("conv_weight_mismatch", node: "conv1", opType: "Conv", ["weight [4, 5, 3, 3]", "input channels 3"])
  }

  func testDanglingInput() {
    assertRejected("dangling_input", node: "relu1", opType: "Relu", ["'ghost'", "not produced"])
  }

  func testTwoInputs() {
    assertRejected("two_inputs", ["2 inputs", "'x'", "'x2'", "one image input"])
  }

  func testNonConstantWeight() {
    assertRejected("non_constant_weight", node: "mm", opType: "MatMul", ["constant weight"])
  }

  func testCustomDomain() {
    assertRejected("custom_domain", node: "gelu1", opType: "FusedGelu", ["domain 'com.microsoft'", "not supported", "Conv"])
  }

  func testOpsetTooOld() {
    assertRejected("opset6", ["opset 6", "older", "version_converter"])
  }

  func testKernelDoesNotFit() {
    assertRejected("kernel_does_not_fit", node: "big", opType: "Conv", ["7x7", "3x3", "does not fit"])
  }

  func testReflectPad() {
    assertRejected("reflect_pad", node: "pad1", opType: "Pad", ["'reflect'", "not supported", "constant"])
  }

  func testTrainingBatchNorm() {
    assertRejected("training_bn", node: "bn1", opType: "BatchNormalization", ["training_mode"])
  }

  // Hostile values that used to crash (nil unwrap, index out of range, arithmetic overflow,
  // unbounded allocation) rather than fail.

  func testEmptyDataInputName() {
    assertRejected("empty_data_input", node: "conv2", opType: "Conv", ["missing input 0"])
  }

  func testConvWeightComputedAtRunTime() {
    assertRejected("computed_conv_weight", node: "conv1", opType: "Conv", ["weight and bias must be constants"])
  }

  func testHugePads() {
    assertRejected("huge_pads", node: "conv1", opType: "Conv", ["pads [1099511627776", "below 2^20"])
  }

  func testNegativeInputDimension() {
    assertRejected("negative_input_dim", ["input 'x'", "[N, 3, -8, 8]", "must be positive"])
  }

  func testReshapeTargetOverflow() {
    assertRejected("reshape_overflow", node: "reshape1", opType: "Reshape", ["cannot reshape", "[1099511627776, 1099511627776, -1]"])
  }

  func testConcatWithoutInputs() {
    assertRejected("concat_no_inputs", node: "cat1", opType: "Concat", ["has no inputs"])
  }

  func testInitializerDimensionsOverflow() {
    assertRejected("overflowing_dims", ["initializer 'w1'", "implausible shape [4294967295, 4294967295, 4]"])
  }

  /// Float16 weights (read directly and through Cast) load and give the float32 twin's outputs.
  func testFloat16WeightsLoadAndRun() throws {
    let half = try Self.loadCanonicalizeRun(Fixtures.path("bad/fp16_weights.onnx"))
    let full = try Self.loadCanonicalizeRun(Fixtures.path("bad/fp16_weights_fp32.onnx"))
    XCTAssertEqual(half.shape, [1, 5, 6, 6])
    XCTAssertEqual(half.shape, full.shape)
    XCTAssertLessThan(relativeError(half.data, full.data), 1e-6)
    let graph = try Model(path: Fixtures.path("bad/fp16_weights.onnx")).canonical(inputShape: [1, 3, 8, 8])
    XCTAssertEqual(graph.nodes.map(\.op.name), ["Conv", "Relu", "Conv"], "the Cast of the weight is folded")
  }

  // MARK: - Not ONNX at all

  func testMissingFileDirectoryEmptyAndTextFiles() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let missing = dir.appendingPathComponent("missing.onnx").path
    let empty = dir.appendingPathComponent("empty.onnx").path
    let text = dir.appendingPathComponent("model.onnx").path
    XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
    try Data("ir_version: 8\ngraph {\n  node { op_type: \"Relu\" input: \"x\" output: \"y\" }\n}\n".utf8)
      .write(to: URL(fileURLWithPath: text))
    let cases: [(String, [String])] = [
      (missing, ["no such file"]), (dir.path, ["directory"]), (empty, ["empty"]), (text, ["not a valid ONNX model"]),
    ]
    for (path, words) in cases {
      guard let error = modelError(path) else { continue }
      XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description)
      for word in words { XCTAssertTrue(error.description.contains(word), "'\(word)' missing: \(error)") }
    }
  }

  // MARK: - Corrupted fixtures

  static let corruptedSources = ["keras_tf2onnx_small", "caffe_small"]

  /// Truncations at 60 offsets per model (1, 2, 10 bytes, spread over the file, near the end):
  /// each throws a ModelError naming the file or (rarely, at a field boundary) still works.
  func testTruncatedModelsThrowModelErrors() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for name in Self.corruptedSources {
      let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/\(name).onnx")))
      let n = bytes.count
      var offsets = [1, 2, 10, n - 1, n - 2, n - 10, n - 100, n / 2]
      offsets += (1...52).map { $0 * n / 53 }
      var thrown = 0, total = 0
      for offset in Set(offsets).sorted() {
        let path = dir.appendingPathComponent("\(name)_cut\(offset).onnx").path
        try bytes.prefix(offset).write(to: URL(fileURLWithPath: path))
        total += 1
        if checkCorrupted(path) { thrown += 1 }
      }
      XCTAssertGreaterThanOrEqual(total, 58, name)
      XCTAssertGreaterThan(Double(thrown), 0.9 * Double(total), "\(name): only \(thrown) of \(total) truncations were rejected")
    }
  }

  /// 60 variants per model with 1 to 8 random bytes replaced (seeded): a ModelError naming
  /// the file, or a model that still loads and runs. The structure-heavy Keras export rejects
  /// a good share of them; the Caffe export is mostly weights, where flips change values only.
  /// Every survivor gives logits of the original's shape.
  static let expectedRejections: [String: ClosedRange<Int>] = ["keras_tf2onnx_small": 15...40, "caffe_small": 0...15]

  func testFlippedBytesNeverCrash() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    var rng = SeededRandom(seed: 2024)
    for name in Self.corruptedSources {
      let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/\(name).onnx"))))
      let originalShape = try Self.loadCanonicalizeRun(Fixtures.path("models/\(name).onnx")).shape
      var thrown = 0
      for variant in 0..<60 {
        var corrupted = bytes
        for _ in 0..<rng.int(1...8) {
          corrupted[rng.int(0...(bytes.count - 1))] ^= UInt8(rng.int(1...255))
        }
        let path = dir.appendingPathComponent("\(name)_flip\(variant).onnx").path
        try Data(corrupted).write(to: URL(fileURLWithPath: path))
        if checkCorrupted(path) { thrown += 1 } else {
          XCTAssertEqual(try Self.loadCanonicalizeRun(path).shape, originalShape, "\(name) variant \(variant)")
        }
      }
      let expected = Self.expectedRejections[name]!
      XCTAssertTrue(expected.contains(thrown), "\(name): \(thrown) of 60 byte-flipped variants rejected, expected \(expected)")
    }
  }

  /// Whether loading and running `path` threw; any error must be a ModelError naming the file.
  private func checkCorrupted(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
    do {
      try Self.loadCanonicalizeRun(path)
      return false
    } catch let error as ModelError {
      XCTAssertTrue(error.description.contains(path), "error does not name the file: \(error)", file: file, line: line)
      return true
    } catch {
      XCTFail("\(path): not a ModelError: \(error)", file: file, line: line)
      return true
    }
  }

  private func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-bad-input-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  // MARK: - Bad run-time inputs

  func testWrongInputShape() throws {
    let path = Fixtures.path("bad/fp16_weights_fp32.onnx")
    let model = try Model(path: path)
    let plan = try model.forwardPlan(inputShape: [2, 3, 8, 8])
    for shape in [[2, 3, 8, 9], [1, 3, 8, 8], [2, 3, 64]] {
      XCTAssertThrowsError(try plan.run(Tensor(zeros: shape))) { error in
        let text = String(describing: error)
        XCTAssertTrue(error is ModelError, text)
        XCTAssertTrue(text.hasPrefix(path + ": ") && text.contains("\(shape)") && text.contains("[2, 3, 8, 8]"), text)
      }
    }
    for shape in [[1, 3, 8], [1, 4, 8, 8]] {
      XCTAssertThrowsError(try model.canonical(inputShape: shape)) { error in
        let text = String(describing: error)
        XCTAssertTrue(error is ModelError && text.hasPrefix(path + ": ") && text.contains("input 'x'") && text.contains("[N, 3, 8, 8]"), text)
      }
    }
  }

  func testNPYDecodingErrors() throws {
    let good = NPY.encode(Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))
    XCTAssertEqual(try NPY.decode(good, name: "good.npy"), Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))

    func header(_ dict: String) -> Data {
      var text = dict
      text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
      var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xff), UInt8(text.utf8.count >> 8)])
      data.append(contentsOf: Array(text.utf8))
      return data
    }
    var badMagic = good
    badMagic[1] = UInt8(ascii: "X")
    var complex = header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }")
    complex.append(Data(count: 16))
    var bigEndian = header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }")
    bigEndian.append(Data(count: 8))
    var noShape = header("{'descr': '<f4', 'fortran_order': False, }")
    noShape.append(Data(count: 4))
    let cases: [(String, Data, [String])] = [
      ("bad magic", badMagic, ["bad magic"]),
      ("text", Data("just some text, not an array\n".utf8), ["bad magic"]),
      ("too short", Data([0x93, 0x4e]), ["bad magic"]),
      ("complex dtype", complex, ["dtype '<c8' is not supported"]),
      ("big-endian", bigEndian, ["dtype '>f4' is not supported"]),
      ("no shape", noShape, ["no 'shape'"]),
      ("truncated header", good.prefix(40), ["truncated header"]),
      ("truncated data", good.prefix(good.count - 5), ["needs 24 bytes", "the file has 19"]),
      ("header only", good.prefix(good.count - 24), ["needs 24 bytes", "the file has 0"]),
    ]
    for (name, data, words) in cases {
      XCTAssertThrowsError(try NPY.decode(data, name: "\(name).npy"), name) { error in
        let text = String(describing: error)
        XCTAssertTrue(error is ModelError && text.hasPrefix("\(name).npy: not a usable .npy file"), text)
        for word in words { XCTAssertTrue(text.contains(word), "\(name): '\(word)' missing from: \(text)") }
      }
    }
    XCTAssertThrowsError(try NPY.read(path: "/nonexistent/x.npy")) { error in
      XCTAssertTrue(String(describing: error).hasPrefix("/nonexistent/x.npy: "), "\(error)")
    }
  }
}
