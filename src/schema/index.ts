/** Imports every type file (for its side effects on the builder) and exports the schema. */
import { builder } from '../builder.ts';
import './task.ts';
import './task-updates.ts';
import './user.ts';
import './user-list.ts';
import './group.ts';
import './group-list.ts';
import './deployment.ts';
import './export.ts';
import './run-mutations.ts';
import './erp-upload.ts';
import './user-mutations.ts';
import './user-bulk.ts';

export const schema = builder.toSchema({ sortSchema: true });
