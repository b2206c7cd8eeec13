import { checkSceau } from "./common.js";

await checkSceau();
