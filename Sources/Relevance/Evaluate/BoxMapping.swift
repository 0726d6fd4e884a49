extension Preprocessing {
  /// `box`, given in pixels of an image of `imageWidth`×`imageHeight`, in pixels of the model
  /// input of `inputHeight`×`inputWidth` that `tensor(from:inputShape:source:)` makes of that
  /// image: scaled as the resize scaled the image, shifted by the centre crop's offset, and
  /// clipped to the input; nil when the crop cut the whole box away.
  public func inputBox(_ box: Box, imageWidth: Int, imageHeight: Int, inputHeight: Int, inputWidth: Int) -> Box? {
    let g = geometry(height: inputHeight, width: inputWidth)
    var (w, h) = (imageWidth, imageHeight)
    if let size = g.size {
      (w, h) = (size[1], size[0])
    } else if let side = g.resize {
      (w, h) = ImageResize.shorterSideSize(width: imageWidth, height: imageHeight, to: side)
    }
    let sx = Double(w) / Double(imageWidth), sy = Double(h) / Double(imageHeight)
    var (left, top) = (0.0, 0.0)
    if let crop = g.crop {
      top = (Double(h - crop[0]) / 2).rounded(.toNearestOrEven)
      left = (Double(w - crop[1]) / 2).rounded(.toNearestOrEven)
    }
    let mapped = Box(x0: max(0, box.x0 * sx - left), y0: max(0, box.y0 * sy - top),
                     x1: min(Double(inputWidth), box.x1 * sx - left), y1: min(Double(inputHeight), box.y1 * sy - top))
    return mapped.x0 < mapped.x1 && mapped.y0 < mapped.y1 ? mapped : nil
  }
}
