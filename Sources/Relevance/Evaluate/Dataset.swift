import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A box in pixel coordinates of its image: columns x0..<x1, rows y0..<y1 (exclusive ends;
/// a one-pixel box at (x, y) is [x, y, x + 1, y + 1]).
public struct Box: Equatable, Sendable, Codable {
  public var x0, y0, x1, y1: Double

  public init(x0: Double, y0: Double, x1: Double, y1: Double) {
    (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1)
  }

  /// Whether pixel (x, y) (its centre at x + 0.5, y + 0.5) lies inside.
  public func contains(x: Int, y: Int) -> Bool {
    let cx = Double(x) + 0.5, cy = Double(y) + 0.5
    return cx >= x0 && cx < x1 && cy >= y0 && cy < y1
  }

  /// The distance from pixel (x, y)'s centre to the box (0 inside).
  public func distance(x: Int, y: Int) -> Double {
    let cx = Double(x) + 0.5, cy = Double(y) + 0.5
    let dx = max(x0 - cx, 0, cx - x1), dy = max(y0 - cy, 0, cy - y1)
    return (dx * dx + dy * dy).squareRoot()
  }
}

/// One annotated object.
public struct AnnotatedObject: Equatable, Sendable {
  public var classIndex: Int
  public var box: Box
}

/// One image of a dataset and its objects.
public struct AnnotatedImage: Equatable, Sendable {
  /// The path relative to the dataset root.
  public var file: String
  public var width: Int
  public var height: Int
  public var objects: [AnnotatedObject]

  /// The annotated classes, each once, in first-seen order.
  public var classes: [Int] {
    var seen: [Int] = []
    for o in objects where !seen.contains(o.classIndex) { seen.append(o.classIndex) }
    return seen
  }
}

/// A folder of images with object annotations. Two layouts are read:
///
/// - clrp's own JSON (`annotations.json` in the folder, or the file itself):
///   `{"classes": [names], "images": [{"file": "test/0000.png", "width": 64, "height": 64,
///   "objects": [{"class": 3, "box": [x0, y0, x1, y1]}]}]}`, boxes with exclusive ends; an
///   object may give `"name"` instead of (or besides) `"class"`.
/// - the ImageNet (ILSVRC2012 validation) layout: JPEG files, one Pascal VOC XML file per
///   image (`<object><name>n01440764</name><bndbox><xmin>…`, 1-based inclusive pixel
///   coordinates), and a synset file mapping the names to class indices (one synset per line,
///   line i = class i, anything after the first space ignored, as `LOC_synset_mapping.txt`).
public struct Dataset: Sendable {
  public var root: String
  public var classes: [String]
  public var images: [AnnotatedImage]
  /// Images left out while loading, with the reason (no annotation, no objects).
  public var skipped: [(file: String, reason: String)]

  public func path(of image: AnnotatedImage) -> String { (root as NSString).appendingPathComponent(image.file) }

  /// clrp's JSON layout: a folder holding `annotations.json`, or the JSON file.
  public static func load(path: String) throws -> Dataset {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ModelError(file: path, "no such dataset (a folder with annotations.json, or the JSON file)")
    }
    let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("annotations.json") : path
    guard let data = FileManager.default.contents(atPath: file) else {
      throw ModelError(file: file, "no such file or not readable (a dataset folder holds annotations.json; for the ImageNet layout give --annotations and --synsets)")
    }
    let root = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
    struct FileFormat: Decodable {
      struct Image: Decodable {
        struct Object: Decodable {
          var `class`: Int?
          var name: String?
          var box: [Double]
        }
        var file: String
        var width: Int
        var height: Int
        var objects: [Object]?
      }
      var classes: [String]
      var images: [Image]
    }
    let decoded: FileFormat
    do { decoded = try JSONDecoder().decode(FileFormat.self, from: data) } catch {
      throw ModelError(file: file, "is not a clrp annotation file: \(describe(error))")
    }
    guard !decoded.classes.isEmpty else { throw ModelError(file: file, "has no classes") }
    var dataset = Dataset(root: root, classes: decoded.classes, images: [], skipped: [])
    for image in decoded.images {
      let objects = try (image.objects ?? []).map { o -> AnnotatedObject in
        let index: Int
        if let c = o.class {
          guard decoded.classes.indices.contains(c) else {
            throw ModelError(file: file, "\(image.file): class \(c) is out of range (\(decoded.classes.count) classes)")
          }
          if let name = o.name, name != decoded.classes[c] {
            throw ModelError(file: file, "\(image.file): class \(c) is '\(decoded.classes[c])', but the object names '\(name)'")
          }
          index = c
        } else if let name = o.name {
          guard let c = decoded.classes.firstIndex(of: name) else {
            throw ModelError(file: file, "\(image.file): unknown class name '\(name)'")
          }
          index = c
        } else {
          throw ModelError(file: file, "\(image.file): an object needs `class` or `name`")
        }
        guard o.box.count == 4 else { throw ModelError(file: file, "\(image.file): a box is [x0, y0, x1, y1], got \(o.box)") }
        return AnnotatedObject(classIndex: index, box: try checked(Box(x0: o.box[0], y0: o.box[1], x1: o.box[2], y1: o.box[3]),
                                                                   image.file, width: image.width, height: image.height, source: file))
      }
      if objects.isEmpty { dataset.skipped.append((image.file, "no objects annotated")); continue }
      dataset.images.append(AnnotatedImage(file: image.file, width: image.width, height: image.height, objects: objects))
    }
    guard !dataset.images.isEmpty else { throw ModelError(file: file, "has no annotated images") }
    return dataset
  }

  /// The ImageNet layout: images in `imageFolder` (JPEG), one VOC XML per image in
  /// `annotationFolder` (same stem), class indices from `synsets`.
  public static func loadImageNet(images imageFolder: String, annotations annotationFolder: String, synsets: String) throws -> Dataset {
    guard let text = try? String(contentsOfFile: synsets, encoding: .utf8) else {
      throw ModelError(file: synsets, "no such file or not readable (one synset per line, line i = class i)")
    }
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    let ids = lines.map { String($0.split(separator: " ").first ?? "") }
    let names = lines.map { line -> String in
      let parts = line.split(separator: " ", maxSplits: 1)
      return parts.count > 1 ? String(parts[1]) : String(parts[0])
    }
    guard !ids.isEmpty else { throw ModelError(file: synsets, "has no synsets") }
    let index = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    let files: [String]
    do { files = try FileManager.default.contentsOfDirectory(atPath: imageFolder).sorted() } catch {
      throw ModelError(file: imageFolder, "cannot list the image folder: \(error.localizedDescription)")
    }
    var dataset = Dataset(root: imageFolder, classes: names, images: [], skipped: [])
    for file in files where [".jpeg", ".jpg", ".png"].contains(where: file.lowercased().hasSuffix) {
      let stem = (file as NSString).deletingPathExtension
      let xml = (annotationFolder as NSString).appendingPathComponent(stem + ".xml")
      guard let data = FileManager.default.contents(atPath: xml) else {
        dataset.skipped.append((file, "no annotation \(xml)"))
        continue
      }
      let voc = try VOCAnnotation.parse(data, source: xml)
      let objects = try voc.objects.map { o -> AnnotatedObject in
        guard let c = index[o.name] else { throw ModelError(file: xml, "unknown class name '\(o.name)' (not in \(synsets))") }
        // VOC: 1-based inclusive → 0-based, exclusive ends.
        let box = Box(x0: o.xmin - 1, y0: o.ymin - 1, x1: o.xmax, y1: o.ymax)
        return AnnotatedObject(classIndex: c, box: try checked(box, file, width: voc.width, height: voc.height, source: xml))
      }
      if objects.isEmpty { dataset.skipped.append((file, "no objects in \(xml)")); continue }
      dataset.images.append(AnnotatedImage(file: file, width: voc.width, height: voc.height, objects: objects))
    }
    guard !dataset.images.isEmpty else { throw ModelError(file: imageFolder, "has no annotated images") }
    return dataset
  }

  /// A box must lie inside its image (up to half a pixel of rounding) and not be empty.
  static func checked(_ box: Box, _ file: String, width: Int, height: Int, source: String) throws -> Box {
    guard width > 0, height > 0 else { throw ModelError(file: source, "\(file): image size \(width)×\(height) is not positive") }
    guard box.x0 < box.x1, box.y0 < box.y1 else {
      throw ModelError(file: source, "\(file): box [\(box.x0), \(box.y0), \(box.x1), \(box.y1)] is empty (x0 < x1 and y0 < y1 needed)")
    }
    guard box.x0 >= -0.5, box.y0 >= -0.5, box.x1 <= Double(width) + 0.5, box.y1 <= Double(height) + 0.5 else {
      throw ModelError(file: source, "\(file): box [\(box.x0), \(box.y0), \(box.x1), \(box.y1)] lies outside the \(width)×\(height) image")
    }
    return box
  }

  private static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
      return "missing `\(key.stringValue)` at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
      return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.dataCorrupted(let context): return context.debugDescription
    default: return "\(error)"
    }
  }
}

/// The parts of a Pascal VOC annotation clrp reads.
struct VOCAnnotation {
  struct Object { var name: String; var xmin, ymin, xmax, ymax: Double }
  var width = 0, height = 0
  var objects: [Object] = []

  static func parse(_ data: Data, source: String) throws -> VOCAnnotation {
    let delegate = Delegate()
    let parser = XMLParser(data: data)
    parser.delegate = delegate
    guard parser.parse() else {
      throw ModelError(file: source, "is not valid XML: \(parser.parserError.map { "\($0.localizedDescription)" } ?? "parse error")")
    }
    if let problem = delegate.problem { throw ModelError(file: source, problem) }
    return delegate.result
  }

  final class Delegate: NSObject, XMLParserDelegate {
    var result = VOCAnnotation()
    var path: [String] = []
    var text = ""
    var current: [String: String] = [:]
    var problem: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
      path.append(name)
      text = ""
      if name == "object" { current = [:] }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
      let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
      let parent = path.dropLast().last
      switch (parent, name) {
      case ("size", "width"): result.width = Int(value) ?? 0
      case ("size", "height"): result.height = Int(value) ?? 0
      case ("object", "name"), ("bndbox", "xmin"), ("bndbox", "ymin"), ("bndbox", "xmax"), ("bndbox", "ymax"):
        current[name] = value
      case (_, "object"):
        guard let n = current["name"], let a = current["xmin"].flatMap(Double.init), let b = current["ymin"].flatMap(Double.init),
              let c = current["xmax"].flatMap(Double.init), let d = current["ymax"].flatMap(Double.init) else {
          problem = problem ?? "an <object> lacks <name> or a numeric <bndbox> (xmin, ymin, xmax, ymax)"
          break
        }
        result.objects.append(Object(name: n, xmin: a, ymin: b, xmax: c, ymax: d))
      default: break
      }
      path.removeLast()
      text = ""
    }
  }
}
