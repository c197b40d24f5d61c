/**
 * uploadErpFile: the client's file goes to erp/upload_file as multipart/form-data, streamed as it arrives (see
 * plugins/streaming-uploads.ts and upstream/multipart.ts), never held whole. The upload is a POST: never retried.
 */
import { builder } from '../builder.ts';
import { uploadTooLarge } from '../upload.ts';
import { multipartBody } from '../upstream/multipart.ts';
import { optionalCharacter, requiredText, singleCharacter } from '../validation.ts';
import { runCost, taskResult } from './run-mutations.ts';
import { Task } from './task.ts';

builder.mutationField('uploadErpFile', (t) =>
  t.field({
    type: Task,
    nullable: false,
    description: `Uploads a file for an ERP import configuration (erp/upload_file); at most MAX_UPLOAD_BYTES.`,
    args: {
      file: t.arg({
        type: 'File',
        required: true,
        description: 'The file, as a GraphQL multipart request part',
      }),
      name: t.arg.string({ required: true, description: 'The ERP import configuration' }),
      delimiter: t.arg.string({ required: true, description: 'The column delimiter: one character' }),
      enclosingChar: t.arg.string({ description: 'The field enclosing character: at most one character' }),
    },
    upstream: runCost,
    resolve: async (_root, args, ctx, info) => {
      const name = requiredText(args.name, 'name');
      const delimiter = singleCharacter(args.delimiter, 'delimiter');
      const enclosing = optionalCharacter(args.enclosingChar, 'enclosingChar');
      const maxBytes = ctx.config.maxUploadBytes;
      const upload = args.file;
      if (upload.minBytes > maxBytes) throw uploadTooLarge(maxBytes);
      const epmware = ctx.epmware();
      const body = multipartBody(
        [
          ['name', name],
          ['delimiter_char', delimiter],
          ['enclosing_char', enclosing],
        ],
        { fieldName: 'file', filename: upload.name, contentType: upload.type, stream: upload.open() },
      );
      try {
        const submitted = await epmware.uploadErpFile(body);
        return taskResult(submitted.taskId, info);
      } catch (error) {
        // The file went over the limit while streaming (its size was not known up front): the upstream request
        // was aborted part-way, and this, not the abort, is what the client needs to hear.
        if (upload.tooLarge) throw uploadTooLarge(maxBytes);
        throw error;
      }
    },
  }),
);
