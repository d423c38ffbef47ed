/**
 * Mapping between the tracker's plain types and the proto enums (the events module is the
 * boundary where generated types are used).
 */
import { ImageDirection } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { Direction, PlateColour } from '../../../proto/gen/sharpeyes/v1/event.ts';
import type { PlateColourName } from '../detect/types.ts';
import type { InboundDirection, TravelDirection } from '../track/direction.ts';

/** AnalysisSettings.inbound → the tracker's inbound direction (unknown values: unspecified). */
export function inboundFromProto(d: ImageDirection): InboundDirection {
  switch (d) {
    case ImageDirection.IMAGE_DIRECTION_LEFT_TO_RIGHT:
      return 'left_to_right';
    case ImageDirection.IMAGE_DIRECTION_RIGHT_TO_LEFT:
      return 'right_to_left';
    case ImageDirection.IMAGE_DIRECTION_TOWARDS:
      return 'towards';
    case ImageDirection.IMAGE_DIRECTION_AWAY:
      return 'away';
    default:
      return 'unspecified';
  }
}

/** The tracker's direction of travel → proto `Direction`. */
export function directionToProto(d: TravelDirection): Direction {
  switch (d) {
    case 'in':
      return Direction.DIRECTION_IN;
    case 'out':
      return Direction.DIRECTION_OUT;
    case 'unknown':
      return Direction.DIRECTION_UNKNOWN;
  }
}

/** A detector colour name → proto `PlateColour` ('unknown' → unspecified). */
export function plateColourToProto(c: PlateColourName): PlateColour {
  switch (c) {
    case 'blue':
      return PlateColour.PLATE_COLOUR_BLUE;
    case 'yellow':
      return PlateColour.PLATE_COLOUR_YELLOW;
    case 'green':
      return PlateColour.PLATE_COLOUR_GREEN;
    case 'white':
      return PlateColour.PLATE_COLOUR_WHITE;
    case 'black':
      return PlateColour.PLATE_COLOUR_BLACK;
    case 'unknown':
      return PlateColour.PLATE_COLOUR_UNSPECIFIED;
  }
}
