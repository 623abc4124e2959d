/**
 * zod/mini loads no locale: without one every issue reads "Invalid input". Every schema module imports this
 * file so the English messages (the ones users see) are set before anything is parsed. Only `en` is
 * imported, by its own path, so the other locales stay out of the Lambda bundles.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());
