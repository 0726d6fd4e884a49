import XCTest
@testable import Relevance

/// The scoring of the pointing game and the ablation on hand-made maps and boxes.
final class PointingGameTests: XCTestCase {
  /// A 4×3 map from rows.
  func map(_ rows: [[Float]]) -> RelevanceMap {
    RelevanceMap(width: rows[0].count, height: rows.count, values: Array(rows.joined()))
  }

  func box(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double) -> Box { Box(x0: x0, y0: y0, x1: x1, y1: y1) }

  func testEnergyHitsAndMisses() {
    let m = map([[4, 0, 0, 0],
                 [3, 0, 0, 1],
                 [2, 0, 0, 0]])          // E = 10
    let left = box(0, 0, 1, 3)          // column 0 holds 9 of 10
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [left], energies: [0.1, 0.4, 0.7, 0.9, 0.95, 1.0]),
                   [true, true, true, true, false, false])
    // Energy exactly on a threshold: 0.7 · 10 = 4 + 3, so the pixel of value 2 is not needed.
    let top2 = box(0, 0, 1, 2)
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [top2], energies: [0.7, 0.71]), [true, false])
    // Several boxes of one class together.
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [top2, box(0, 2, 1, 3), box(3, 1, 4, 2)], energies: [1.0]), [true])
    // No box, or no positive energy: a miss.
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [], energies: [0.5]), [false])
    XCTAssertEqual(PointingGame.energyHits(map([[0, -1], [-2, 0]]), boxes: [box(0, 0, 2, 2)], energies: [0.5]), [false])
  }

  func testTiesAreKeptTogether() {
    // Two pixels share the top value; 0.1 of the energy needs only one, but both are kept, so
    // the one outside the box makes it a miss whatever the order of ties.
    let m = map([[5, 0, 0, 5],
                 [0, 0, 0, 0]])
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [box(0, 0, 1, 1)], energies: [0.1]), [false])
    XCTAssertEqual(PointingGame.energyHits(m, boxes: [box(0, 0, 1, 1), box(3, 0, 4, 1)], energies: [0.1]), [true])
    XCTAssertFalse(PointingGame.pointHit(m, boxes: [box(0, 0, 1, 1)], tolerance: 0))
    XCTAssertTrue(PointingGame.pointHit(m, boxes: [box(0, 0, 1, 1)], tolerance: 3))
  }

  func testBoxesAtTheBorderAndPixelCentres() {
    let m = map([[0, 0, 0],
                 [0, 0, 0],
                 [0, 0, 7]])
    XCTAssertTrue(PointingGame.pointHit(m, boxes: [box(2, 2, 3, 3)], tolerance: 0))
    XCTAssertFalse(PointingGame.pointHit(m, boxes: [box(2, 2, 2.4, 3)], tolerance: 0), "the pixel's centre 2.5 lies outside")
    XCTAssertTrue(PointingGame.pointHit(m, boxes: [box(0, 0, 2, 2)], tolerance: 0.71), "corner distance 0.707")
    XCTAssertFalse(PointingGame.pointHit(m, boxes: [box(0, 0, 2, 2)], tolerance: 0.7))
    XCTAssertEqual(PointingGame.maximum(m).x, 2)
  }

  func testBoxesFollowTheResizeAndCrop() throws {
    // imagenet for a 64 input: shorter side to 73, centre crop 64. A 146×100 image becomes
    // 106×73 (torchvision truncates), cropped at left = 21, top = 4 (rounded halves to even).
    let p = Preprocessing.imagenet
    let b = try XCTUnwrap(p.inputBox(box(50, 20, 100, 60), imageWidth: 146, imageHeight: 100, inputHeight: 64, inputWidth: 64))
    let s = 73.0 / 100.0, sx = 106.0 / 146.0
    XCTAssertEqual(b.x0, 50 * sx - 21, accuracy: 1e-9)
    XCTAssertEqual(b.y0, 20 * s - 4, accuracy: 1e-9)
    XCTAssertEqual(b.x1, min(64, 100 * sx - 21), accuracy: 1e-9)
    XCTAssertEqual(b.y1, 60 * s - 4, accuracy: 1e-9)
    XCTAssertNil(p.inputBox(box(0, 0, 10, 10), imageWidth: 146, imageHeight: 100, inputHeight: 64, inputWidth: 64), "cropped away")
    XCTAssertEqual(Preprocessing.unit.inputBox(box(0, 0, 10, 20), imageWidth: 20, imageHeight: 40, inputHeight: 64, inputWidth: 64),
                   box(0, 0, 32, 32))
  }

  func testAblationPatchIsClippedAndTakesTheMean() {
    let input = Tensor(shape: [1, 2, 4, 4], data: [Float](repeating: 1, count: 32))
    let mean = Tensor(shape: [1, 2, 4, 4], data: (0..<32).map { Float($0) })
    let out = Ablation.replacePatch(input, with: mean, centre: (x: 0, y: 0), side: 3, layout: .nchw)
    // Rows/columns -1..1 clipped to 0..1.
    for c in 0..<2 {
      for y in 0..<4 {
        for x in 0..<4 {
          let i = (c * 4 + y) * 4 + x
          XCTAssertEqual(out.data[i], x <= 1 && y <= 1 ? mean.data[i] : 1, "c \(c) y \(y) x \(x)")
        }
      }
    }
  }

  func testSummaryCountsHitsPerEnergy() {
    let settings = EvaluationSettings(kind: "pointing", model: "m", dataset: "d", methods: ["lrp", "random"], rules: nil,
                                      preprocess: "imagenet", dual: "uniform", normalize: "none", energies: [0.5, 1.0], tolerance: 0)
    let records = [
      EvaluationRecord(index: 0, image: "a", error: nil, cases: [
        .init(class: 1, method: "lrp", hits: [true, false], point: true),
        .init(class: 2, method: "lrp", hits: [true, true], point: false),
        .init(class: 1, method: "random", hits: [false, false], point: false)]),
      EvaluationRecord(index: 1, image: "b", error: "unreadable", cases: []),
    ]
    let summary = EvaluationSummary(settings: settings, records: records)
    XCTAssertEqual(summary.images, 1)
    XCTAssertEqual(summary.failed, 1)
    XCTAssertEqual(summary.methods["lrp"]?.accuracy, [1.0, 0.5])
    XCTAssertEqual(summary.methods["lrp"]?.pointAccuracy, 0.5)
    XCTAssertEqual(summary.methods["random"]?.accuracy, [0, 0])
    XCTAssertTrue(summary.csv.contains("lrp,1.0,0.5,2"), summary.csv)
  }

  func testDatasetErrorsAreClear() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-dataset-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func expect(_ json: String, _ part: String, file: StaticString = #filePath, line: UInt = #line) throws {
      try json.write(toFile: dir + "/annotations.json", atomically: true, encoding: .utf8)
      XCTAssertThrowsError(try Dataset.load(path: dir), file: file, line: line) { error in
        XCTAssertTrue("\(error)".contains(part), "'\(error)' lacks '\(part)'", file: file, line: line)
      }
    }
    try expect(#"{"classes": ["a"], "images": []}"#, "has no annotated images")
    try expect(#"{"classes": ["a"], "images": [{"file": "x.png", "width": 8, "height": 8, "objects": [{"name": "zebra", "box": [0, 0, 2, 2]}]}]}"#, "unknown class name 'zebra'")
    try expect(#"{"classes": ["a"], "images": [{"file": "x.png", "width": 8, "height": 8, "objects": [{"class": 0, "box": [4, 4, 12, 6]}]}]}"#, "lies outside the 8×8 image")
    try expect(#"{"classes": ["a"], "images": [{"file": "x.png", "width": 8, "height": 8}]}"#, "has no annotated images")
    try expect(#"{"images": []}"#, "missing `classes`")
    XCTAssertThrowsError(try Dataset.load(path: dir + "/nope")) { XCTAssertTrue("\($0)".contains("no such dataset")) }
  }

  func testImageNetLayout() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clrp-imagenet-\(UUID())").path
    let fm = FileManager.default
    try fm.createDirectory(atPath: dir + "/val", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: dir + "/xml", withIntermediateDirectories: true)
    defer { try? fm.removeItem(atPath: dir) }
    try "n01 tench, Tinca tinca\nn02 goldfish\n".write(toFile: dir + "/synsets.txt", atomically: true, encoding: .utf8)
    try Data([0xFF, 0xD8]).write(to: URL(fileURLWithPath: dir + "/val/a.JPEG"))
    try Data([0xFF, 0xD8]).write(to: URL(fileURLWithPath: dir + "/val/b.JPEG"))
    try """
      <annotation><size><width>100</width><height>50</height></size>
      <object><name>n02</name><bndbox><xmin>1</xmin><ymin>11</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object>
      </annotation>
      """.write(toFile: dir + "/xml/a.xml", atomically: true, encoding: .utf8)
    let d = try Dataset.loadImageNet(images: dir + "/val", annotations: dir + "/xml", synsets: dir + "/synsets.txt")
    XCTAssertEqual(d.classes, ["tench, Tinca tinca", "goldfish"])
    XCTAssertEqual(d.images.count, 1)
    XCTAssertEqual(d.images[0].objects, [AnnotatedObject(classIndex: 1, box: Box(x0: 0, y0: 10, x1: 40, y1: 50))])
    XCTAssertEqual(d.skipped.map(\.file), ["b.JPEG"])
  }
}

/// The neuron study's matrix against a direct computation.
final class NeuronStudyTests: XCTestCase {
  func testChangesAreScoreDropsAfterAblatingEachMapsMaximum() throws {
    let model = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    let input = try NPY.read(path: Fixtures.path("relevance/vgg16_small.input.npy"))
    let explainer = Explainer(model: model, preprocessing: .imagenet)
    let node = "/features/features.22/Relu"
    let mean = Tensor(zeros: input.shape)
    let study = try NeuronStudy.run(explainer: explainer, input: input, node: node, count: 3, patch: 7, mean: mean)
    XCTAssertEqual(study.units.count, 3)
    XCTAssertEqual(study.scores, study.scores.sorted(by: >))
    let before = try explainer.unitScores(input, node: node)
    for m in study.methods.indices {
      for i in study.units.indices {
        let map = try RelevanceMap(study.maps[m][i])
        let at = PointingGame.maximum(map)
        XCTAssertEqual(study.centres[m][i], [at.x, at.y])
        let after = try explainer.unitScores(Ablation.replacePatch(input, with: mean, centre: at, side: 7, layout: .nchw), node: node)
        for (j, u) in study.units.enumerated() {
          XCTAssertEqual(study.changes[m][i][j], before[u] - after[u], accuracy: 1e-9)
        }
      }
    }
    XCTAssertTrue(study.csv.hasPrefix("method,ablated_unit,unit,score_before,change\nlrp,\(study.units[0]),"))
  }
}
