import Foundation
import XCTest
import Relevance

/// Hostile inputs given to `clrp` itself: each ends with exit status 1 and a clear message,
/// never a crash, a silent success or a runaway allocation.
final class RobustCLITests: XCTestCase {
  static let vgg = CLITests.fixture("models/vgg16_small.onnx")
  static let input = CLITests.fixture("relevance/vgg16_small.input.npy")

  var dir: URL!

  override func setUpWithError() throws {
    // The commands without --max-memory (inspect, verify) take their budget from here: the
    // refusals below then do not depend on the machine's memory.
    setenv("CLRP_MAX_MEMORY", "16G", 1)
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-robust-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    unsetenv("CLRP_MAX_MEMORY")
    try? FileManager.default.removeItem(at: dir)
  }

  func temp(_ name: String) -> String { dir.appendingPathComponent(name).path }

  /// Runs clrp, expects exit status 1 and every one of `words` in its error output.
  func assertRefused(_ arguments: [String], _ words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let run = try runCLRP(arguments)
    XCTAssertEqual(run.status, 1, "stdout: \(run.out) stderr: \(run.err)", file: file, line: line)
    for word in words {
      XCTAssertTrue(run.err.contains(word), "'\(word)' missing from: \(run.err)", file: file, line: line)
    }
  }

  // Case 3
  func testClassifyRefusesAnEmptyBatch() throws {
    try NPY.write(Tensor(shape: [0, 3, 64, 64], data: []), path: temp("e.npy"))
    try assertRefused(["classify", Self.vgg, temp("e.npy"), "--output", temp("l.npy")], ["e.npy", "is empty"])
    try assertRefused(["classify", Self.vgg, temp("e.npy")], ["is empty"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: temp("l.npy")))
  }

  // Case 4
  func testZeroChannelConvIsRefusedAtTheNode() throws {
    try NPY.write(Tensor(shape: [3, 8, 8], data: [Float](repeating: 0.5, count: 192)), path: temp("x.npy"))
    try assertRefused(["classify", CLITests.fixture("bad/zero_channels.onnx"), temp("x.npy")], ["node 'conv1'", "zero-sized"])
    try assertRefused(["inspect", CLITests.fixture("bad/zero_channels.onnx")], ["node 'conv1'", "zero-sized"])
    // It used to die with SIGFPE here.
    try assertRefused(["verify", CLITests.fixture("bad/zero_channels.onnx"), "--rules", "zplus"], ["node 'conv1'", "zero-sized"])
  }

  // Case 5
  func testBenchRefusesAHugeBatch() throws {
    try assertRefused(["bench", Self.vgg, "--forward", "--batch", "100000000", "--runs", "1", "--no-reference"], ["memory budget"])
    try assertRefused(["bench", Self.vgg, "--forward", "--batch", "64", "--runs", "1", "--no-reference", "--max-memory", "16M"],
                      ["a forward pass with input shape [64, 3, 64, 64]", "above the memory budget of 16.8 MB"])
    try assertRefused(["bench", Self.vgg, "--forward", "--max-memory", "lots"], ["invalid memory size 'lots'"])
    let ok = try runCLRP(["bench", Self.vgg, "--forward", "--batch", "2", "--runs", "1", "--no-reference", "--max-memory", "512M"])
    XCTAssertEqual(ok.status, 0, ok.err)
  }

  // Case 7 (inspect picks up the library default budget: CLRP_MAX_MEMORY here)
  func testHugeConstantFoldsAreRefused() throws {
    try assertRefused(["inspect", CLITests.fixture("bad/unused_constant_of_shape.onnx")], ["node 'big'", "memory budget"])
    try assertRefused(["inspect", CLITests.fixture("bad/broadcast_constants.onnx")], ["node 'grow'", "memory budget"])
    try NPY.write(Tensor(shape: [3, 8, 8], data: [Float](repeating: 0.5, count: 192)), path: temp("x.npy"))
    try assertRefused(["classify", CLITests.fixture("bad/broadcast_constants.onnx"), temp("x.npy"), "--max-memory", "1G"],
                      ["node 'grow'", "memory budget of 1.1 GB"])
    // --max-memory wins over the environment.
    try assertRefused(["classify", CLITests.fixture("bad/broadcast_constants.onnx"), temp("x.npy"), "--max-memory", "2G"],
                      ["node 'grow'", "memory budget of 2.1 GB"])
  }

  // Case 8
  func testHugeDeclaredInputIsRefused() throws {
    // (verify refuses it too, after making its 3.2 GB random input: too slow for a debug test run.)
    try assertRefused(["bench", CLITests.fixture("bad/huge_input.onnx"), "--forward", "--runs", "1", "--no-reference", "--max-memory", "12G"],
                      ["a forward pass with input shape [1, 3, 16384, 16384]", "memory budget"])
    try assertRefused(["bench", CLITests.fixture("bad/huge_input.onnx"), "--forward", "--runs", "1", "--no-reference", "--max-memory", "4G"],
                      ["node 'conv1'", "memory budget"])
    // Under 1 GiB, one declared image is already too large: refused when the model is loaded.
    try assertRefused(["bench", CLITests.fixture("bad/huge_input.onnx"), "--forward", "--runs", "1", "--no-reference", "--max-memory", "1G"],
                      ["one image for input 'x'", "needs about 3.2 GB"])
  }

  // Case 9
  func testClassifyRefusesNonFiniteInputs() throws {
    let good = try NPY.read(path: Self.input)
    var data = good.data
    data[0] = .nan; data[5] = .infinity; data[7] = -.infinity
    try NPY.write(Tensor(shape: good.shape, data: data), path: temp("bad.npy"))
    try assertRefused(["classify", Self.vgg, temp("bad.npy")], ["bad.npy: has 3 non-finite value(s) (NaN or infinity): 1 NaN, 2 infinite, of 12288 values"])
    try NPY.write(Tensor(shape: good.shape, data: [Float](repeating: .nan, count: good.count)), path: temp("nan.npy"))
    try assertRefused(["classify", Self.vgg, temp("nan.npy")], ["nan.npy: has \(good.count) non-finite value(s)"])
  }

  // Case 10
  func testPoolPadsNotSmallerThanTheKernelAreRefused() throws {
    try NPY.write(Tensor(shape: [3, 8, 8], data: [Float](repeating: 0.5, count: 192)), path: temp("x.npy"))
    try assertRefused(["classify", CLITests.fixture("bad/pool_pads_exceed_kernel.onnx"), temp("x.npy")],
                      ["node 'pool1'", "smaller than the kernel"])
  }

  // Case 11: a Fortran-ordered input whose header ends in `'fortran_order': True}`.
  func testFortranOrderedInputGivesTheSameLogits() throws {
    let image = try NPY.read(path: Self.input)
    let shape = image.shape
    // Column-major storage: the first axis varies fastest.
    var columnMajor = [Float](repeating: 0, count: image.count)
    var cStrides = [Int](repeating: 1, count: shape.count), fStrides = [Int](repeating: 1, count: shape.count)
    for a in stride(from: shape.count - 2, through: 0, by: -1) { cStrides[a] = cStrides[a + 1] * shape[a + 1] }
    for a in 1..<shape.count { fStrides[a] = fStrides[a - 1] * shape[a - 1] }
    for flat in 0..<image.count {
      var rest = flat, f = 0
      for a in 0..<shape.count { f += (rest / cStrides[a]) * fStrides[a]; rest %= cStrides[a] }
      columnMajor[f] = image.data[flat]
    }
    var header = "{'descr': '<f4', 'shape': (" + shape.map(String.init).joined(separator: ", ") + "), 'fortran_order': True}"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data.append(contentsOf: Array(header.utf8))
    columnMajor.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
    try data.write(to: URL(fileURLWithPath: temp("f.npy")))

    let c = try runCLRP(["classify", Self.vgg, Self.input, "--output", temp("c_logits.npy")])
    let f = try runCLRP(["classify", Self.vgg, temp("f.npy"), "--output", temp("f_logits.npy")])
    XCTAssertEqual(c.status, 0, c.err)
    XCTAssertEqual(f.status, 0, f.err)
    XCTAssertEqual(try NPY.read(path: temp("f_logits.npy")), try NPY.read(path: temp("c_logits.npy")))
  }

  // Case 15
  func testClassifyRefusesToOverwriteItsInputsOrTheModel() throws {
    try FileManager.default.copyItem(atPath: Self.vgg, toPath: temp("m.onnx"))
    try FileManager.default.copyItem(atPath: Self.input, toPath: temp("in.npy"))
    try FileManager.default.createSymbolicLink(atPath: temp("link.npy"), withDestinationPath: temp("in.npy"))
    let model = try Data(contentsOf: URL(fileURLWithPath: temp("m.onnx")))
    let input = try Data(contentsOf: URL(fileURLWithPath: temp("in.npy")))
    for output in [temp("in.npy"), temp("link.npy"), temp("m.onnx"), dir.path + "/./sub/../in.npy"] {
      try? FileManager.default.createDirectory(atPath: temp("sub"), withIntermediateDirectories: true)
      try assertRefused(["classify", temp("m.onnx"), temp("in.npy"), "--output", output], ["is the same file as"])
    }
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: temp("m.onnx"))), model)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: temp("in.npy"))), input)
    let ok = try runCLRP(["classify", temp("m.onnx"), temp("in.npy"), "--output", temp("out.npy")])
    XCTAssertEqual(ok.status, 0, ok.err)
  }
}
