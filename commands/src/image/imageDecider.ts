import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { Decider } from '../decider.ts';
import { decideImage } from './decideImage.ts';

export { largestImageBytes } from './decideImage.ts';
import type { ImageCommand } from './imageCommands.ts';
import { evolveImage, initialImageState, type ImageState } from './imageState.ts';

export const imageDecider: Decider<ImageState, ImageCommand, ImageEvent> = {
  aggregateType: 'image',
  aggregateIdOf: (command) => command.data.imageId,
  initialState: initialImageState,
  evolve: evolveImage,
  decide: decideImage,
};
