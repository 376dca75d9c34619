import { InvalidParameterError } from "../../errors";

/** Where an instruction sits in its Dockerfile, for messages like `Dockerfile:3: unknown instruction: FOO`. */
export interface SourceLocation {
  file: string;
  line: number;
}

/** A Dockerfile that cannot be parsed or evaluated; the message starts with `file:line:` when the line is known. */
export class DockerfileError extends InvalidParameterError {
  constructor(location: SourceLocation | null, message: string) {
    super(location ? `${location.file}:${location.line}: ${message}` : message);
  }
}
